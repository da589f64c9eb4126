// The debugging page: builds the request a client would send, sends it to this server,
// and shows both raw. No framework, no outside resources.
"use strict";

const $ = (id) => document.getElementById(id);

function showRequest(lines) {
  $("request").textContent = lines.join("\n");
}

async function showAnswer(resp) {
  const head = [`HTTP ${resp.status}`];
  for (const name of ["content-type", "x-request-id"]) {
    const value = resp.headers.get(name);
    if (value !== null) head.push(`${name}: ${value}`);
  }
  const text = await resp.text();
  $("response").textContent = head.join("\n") + "\n\n" + text;
  let json = null;
  try { json = JSON.parse(text); } catch (e) { json = null; }
  $("response").classList.toggle("error", !json || (json.errcode !== undefined && json.errcode !== 0));
  return json;
}

function query(params) {
  return Object.entries(params)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join("&");
}

async function getToken(log) {
  const path = "/cgi-bin/token?" + query({
    grant_type: "client_credential", appid: $("appid").value.trim(), secret: $("secret").value.trim(),
  });
  log.push(`GET ${path}`);
  const resp = await fetch(path);
  return resp;
}

async function send(event) {
  event.preventDefault();
  $("url").textContent = "";
  $("url").removeAttribute("href");
  $("picture").hidden = true;
  const endpoint = $("endpoint").value;
  const log = [];
  try {
    if (endpoint.startsWith("component/")) {
      await sendComponent(endpoint, log);
      return;
    }
    if (endpoint === "token") {
      const resp = await getToken(log);
      showRequest(log);
      const json = await showAnswer(resp);
      if (json && json.access_token) $("access_token").value = json.access_token;
      return;
    }
    if (endpoint === "stable_token") {
      const body = JSON.stringify({
        grant_type: "client_credential", appid: $("appid").value.trim(), secret: $("secret").value.trim(),
        force_refresh: $("force_refresh").checked,
      });
      log.push("POST /cgi-bin/stable_token", "Content-Type: application/json", "", body);
      showRequest(log);
      const resp = await fetch("/cgi-bin/stable_token", {
        method: "POST", headers: { "Content-Type": "application/json" }, body,
      });
      const json = await showAnswer(resp);
      if (json && json.access_token) $("access_token").value = json.access_token;
      return;
    }
    const token = await accessToken(log);
    if (token === null) return;
    if (endpoint.startsWith("api:")) {
      await sendApi(endpoint.slice(4), token, log);
      return;
    }
    // uploadimg, material/add_material
    const file = $("media").files[0];
    const form = new FormData();
    if (file) form.append("media", file, file.name);
    const path = endpoint === "material/add_material"
      ? "/cgi-bin/material/add_material?" + query({ access_token: token, type: $("material_type").value })
      : "/cgi-bin/media/uploadimg?" + query({ access_token: token });
    log.push(`POST ${path}`, "Content-Type: multipart/form-data", "",
      file ? `media: ${file.name} (${file.type || "no type"}, ${file.size} bytes)` : "(no media part)");
    showRequest(log);
    const resp = await fetch(path, { method: "POST", body: form });
    const json = await showAnswer(resp);
    if (json && (json.errcode === 0 || json.errcode === undefined) && json.url) {
      $("url").textContent = json.url;
      $("url").href = json.url;
      $("picture").src = json.url;
      $("picture").hidden = false;
    }
  } catch (e) {
    showRequest(log);
    $("response").textContent = "request failed: " + e;
    $("response").classList.add("error");
  }
}

// The token typed in, or one fetched with appid/secret; null (and the failure shown) if
// the token call failed.
async function accessToken(log) {
  let token = $("access_token").value.trim();
  if (!token && $("appid").value.trim()) {
    const resp = await getToken(log);
    const json = await resp.json();
    log.push(`  → ${JSON.stringify(json)}`);
    if (!json.access_token) {
      showRequest(log);
      $("response").textContent = "token call failed: " + JSON.stringify(json);
      $("response").classList.add("error");
      return null;
    }
    token = json.access_token;
    $("access_token").value = token;
  }
  return token;
}

// The JSON APIs of the article workflow: the body as typed, sent as real clients send it.
async function sendApi(api, token, log) {
  const get = API_GET.has(api);
  const path = `/cgi-bin/${api}?` + query({ access_token: token });
  const body = $("api_body").value;
  if (get) log.push(`GET ${path}`);
  else log.push(`POST ${path}`, "Content-Type: application/json", "", body);
  showRequest(log);
  const resp = get ? await fetch(path)
    : await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body });
  const json = await showAnswer(resp);
  if (api === "draft/add" && json && json.media_id) {
    await showCleaning(token, json.media_id);
  } else if (api === "draft/update" && json && json.errcode === 0) {
    await showCleaning(token, JSON.parse(body).media_id);
  }
}

// What the content rules removed from a draft: wximg's own debug endpoint (the platform's
// answer says nothing of it).
async function showCleaning(token, mediaId) {
  const resp = await fetch("/debug/cleaning?" + query({ access_token: token, media_id: mediaId }));
  if (!resp.ok) return;
  const report = await resp.json();
  $("cleaning_report").textContent = JSON.stringify(report, null, 2);
  $("cleaning").hidden = false;
}

// GET endpoints among them; the others are POST with a JSON body.
const API_GET = new Set(["material/get_materialcount", "draft/count"]);

// Body templates of the article-workflow calls (the platform's request shapes).
const API_TEMPLATES = {
  "material/get_materialcount": null,
  "material/batchget_material": { type: "image", offset: 0, count: 20 },
  "material/get_material": { media_id: "" },
  "material/del_material": { media_id: "" },
  "draft/add": { articles: [{ title: "Title", author: "", digest: "", content: "<p>Hello</p>", content_source_url: "", thumb_media_id: "", need_open_comment: 0, only_fans_can_comment: 0 }] },
  "draft/get": { media_id: "" },
  "draft/update": { media_id: "", index: 0, articles: { title: "Title", content: "<p>Hello again</p>", thumb_media_id: "" } },
  "draft/delete": { media_id: "" },
  "draft/batchget": { offset: 0, count: 20, no_content: 1 },
  "draft/count": null,
  "freepublish/submit": { media_id: "" },
  "freepublish/get": { publish_id: "" },
  "freepublish/batchget": { offset: 0, count: 20, no_content: 1 },
  "freepublish/getarticle": { article_id: "" },
  "freepublish/delete": { article_id: "", index: 0 },
  "openapi/quota/get": { cgi_path: "/cgi-bin/media/uploadimg" },
  "clear_quota": { appid: "" },
  "openapi/rid/get": { rid: "" },
};

// Body templates of the third-party platform calls (the real request shapes).
const TEMPLATES = {
  "component/api_component_token": { component_appid: "", component_appsecret: "", component_verify_ticket: "" },
  "component/api_create_preauthcode": { component_appid: "" },
  "component/api_query_auth": { component_appid: "", authorization_code: "" },
  "component/api_authorizer_token": { component_appid: "", authorizer_appid: "", authorizer_refresh_token: "" },
};

function endpointChanged() {
  const endpoint = $("endpoint").value;
  const component = endpoint.startsWith("component/");
  $("component").hidden = !component;
  $("creds").hidden = component;
  const api = endpoint.startsWith("api:") ? endpoint.slice(4) : null;
  $("upload").hidden = endpoint !== "uploadimg" && endpoint !== "material/add_material" && !api;
  $("media").parentElement.hidden = api !== null;
  $("material_type_label").hidden = endpoint !== "material/add_material";
  $("api").hidden = api === null || API_TEMPLATES[api] === null;
  $("cleaning").hidden = true;
  if (component) $("json_body").value = JSON.stringify(TEMPLATES[endpoint], null, 2);
  if (api && API_TEMPLATES[api]) {
    const template = structuredClone(API_TEMPLATES[api]);
    if (api === "clear_quota") template.appid = $("appid").value.trim();
    $("api_body").value = JSON.stringify(template, null, 2);
  }
}

async function sendComponent(endpoint, log) {
  let path = `/cgi-bin/${endpoint}`;
  const token = $("component_access_token").value.trim();
  if (endpoint !== "component/api_component_token") path += "?" + query({ component_access_token: token });
  const body = $("json_body").value;
  log.push(`POST ${path}`, "Content-Type: application/json", "", body);
  showRequest(log);
  const resp = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body });
  const json = await showAnswer(resp);
  if (json && json.component_access_token) $("component_access_token").value = json.component_access_token;
}

$("endpoint").addEventListener("change", endpointChanged);
$("form").addEventListener("submit", send);
