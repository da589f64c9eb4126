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
    // uploadimg
    let token = $("access_token").value.trim();
    if (!token && $("appid").value.trim()) {
      const resp = await getToken(log);
      const json = await resp.json();
      log.push(`  → ${JSON.stringify(json)}`);
      if (!json.access_token) {
        showRequest(log);
        $("response").textContent = "token call failed: " + JSON.stringify(json);
        $("response").classList.add("error");
        return;
      }
      token = json.access_token;
      $("access_token").value = token;
    }
    const file = $("media").files[0];
    const form = new FormData();
    if (file) form.append("media", file, file.name);
    const path = "/cgi-bin/media/uploadimg?" + query({ access_token: token });
    log.push(`POST ${path}`, "Content-Type: multipart/form-data", "",
      file ? `media: ${file.name} (${file.type || "no type"}, ${file.size} bytes)` : "(no media part)");
    showRequest(log);
    const resp = await fetch(path, { method: "POST", body: form });
    const json = await showAnswer(resp);
    if (json && json.errcode === 0 && json.url) {
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
  $("upload").hidden = endpoint !== "uploadimg";
  if (component) $("json_body").value = JSON.stringify(TEMPLATES[endpoint], null, 2);
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
