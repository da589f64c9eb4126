// Drives wximg's /debug/ page in a real headless Chromium, as a person would: pick the
// endpoint, enter appid and secret, choose a picture, send; then read the raw answer,
// the returned URL and the rendered picture, and take a screenshot.
//
//   node debug_page.mjs BASE_URL APPID SECRET ARTIFACTS_DIR COMPONENT_APPID COMPONENT_SECRET TICKET
//
// Prints one line per check and then `N passed, M failed`; exits non-zero on a failure.
import { chromium } from "playwright-core";
import { writeFileSync, mkdirSync } from "node:fs";
import { deflateSync } from "node:zlib";
import { join } from "node:path";

const [base, appid, secret, artifacts, componentAppid, componentSecret, ticket] = process.argv.slice(2);
if (!base || !appid || !secret || !artifacts || !componentAppid || !componentSecret || !ticket) {
  console.error("usage: node debug_page.mjs BASE_URL APPID SECRET ARTIFACTS_DIR COMPONENT_APPID COMPONENT_SECRET TICKET");
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });

// A real PNG (48×32, a gradient), made here so the test needs no image tool.
function crc32(buf) {
  let c, crc = 0xffffffff;
  for (const b of buf) {
    c = (crc ^ b) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
function png(width, height) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) row.set([x * 5, y * 7, 200], 1 + x * 3);
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr), chunk("IDAT", deflateSync(Buffer.concat(rows))), chunk("IEND", Buffer.alloc(0)),
  ]);
}
const picture = join(artifacts, "debug-page-upload.png");
const pictureBytes = png(48, 32);
writeFileSync(picture, pictureBytes);

let passed = 0, failed = 0;
function check(name, ok, detail = "") {
  if (ok) { passed++; console.log(`ok    ${name}`); }
  else { failed++; console.log(`FAIL  ${name} ${detail}`); }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run"],
});
try {
  const page = await browser.newPage();
  const outside = [];
  page.on("request", (r) => { if (!r.url().startsWith(base)) outside.push(r.url()); });
  const resp = await page.goto(`${base}/debug/`);
  check("the page loads", resp && resp.status() === 200, `status ${resp && resp.status()}`);

  // 1. Upload with appid/secret: the page fetches a token, then uploads.
  await page.selectOption("#endpoint", "uploadimg");
  await page.fill("#appid", appid);
  await page.fill("#secret", secret);
  await page.setInputFiles("#media", picture);
  await page.click("#send");
  await page.waitForFunction(() => document.querySelector("#response").textContent.length > 0);
  const raw = await page.textContent("#response");
  const request = await page.textContent("#request");
  check("the raw request is shown", request.includes("POST /cgi-bin/media/uploadimg?access_token=")
    && request.includes("debug-page-upload.png"), request);
  check("the raw answer is the platform's JSON", raw.includes("HTTP 200")
    && raw.includes("application/json; encoding=utf-8") && raw.includes('"errcode":0'), raw);
  const url = (await page.textContent("#url")).trim();
  check("the returned URL is a picture URL", /\/mmbiz_png\/[^/]+\/0\?from=appmsg$/.test(url), url);
  await page.waitForFunction(() => {
    const img = document.querySelector("#picture");
    return !img.hidden && img.complete && img.naturalWidth > 0;
  }, null, { timeout: 10000 }).catch(() => {});
  const size = await page.evaluate(() => {
    const img = document.querySelector("#picture");
    return [img.hidden, img.naturalWidth, img.naturalHeight];
  });
  check("the picture is rendered at its size", !size[0] && size[1] === 48 && size[2] === 32, JSON.stringify(size));
  const served = await page.evaluate(async (u) => {
    const r = await fetch(u); return Array.from(new Uint8Array(await r.arrayBuffer()));
  }, url);
  check("the URL serves the exact bytes", Buffer.from(served).equals(pictureBytes));
  await page.screenshot({ path: join(artifacts, "debug-page.png"), fullPage: true });

  // 2. An upload without a picture shows the error answer raw, rid included.
  await page.fill("#access_token", "");
  await page.setInputFiles("#media", []);
  await page.click("#send");
  await page.waitForFunction(() => document.querySelector("#response").textContent.includes("41005"), null,
    { timeout: 10000 }).catch(() => {});
  const err = await page.textContent("#response");
  check("an error answer is shown raw with its rid", /"errcode":41005/.test(err) && / rid: [0-9a-f]{8}-/.test(err), err);
  check("the answer is marked as an error", await page.evaluate(() =>
    document.querySelector("#response").classList.contains("error")));
  await page.screenshot({ path: join(artifacts, "debug-page-error.png"), fullPage: true });

  // 3. The token endpoint, answer shown and its token put into the form.
  await page.selectOption("#endpoint", "token");
  await page.click("#send");
  await page.waitForFunction(() => document.querySelector("#response").textContent.includes("access_token"), null,
    { timeout: 10000 }).catch(() => {});
  const tok = await page.inputValue("#access_token");
  check("a token call fills access_token", tok.length >= 43, tok);

  // 4. Third-party platform calls: the body template, then the raw answers.
  await page.selectOption("#endpoint", "component/api_component_token");
  check("a component call shows its body template", (await page.inputValue("#json_body")).includes("component_verify_ticket"));
  const tokenBody = (t) => JSON.stringify({
    component_appid: componentAppid, component_appsecret: componentSecret, component_verify_ticket: t,
  });
  await page.fill("#json_body", tokenBody("ticket@@@wrong"));
  await page.click("#send");
  await page.waitForFunction(() => document.querySelector("#response").textContent.includes("61006"), null,
    { timeout: 10000 }).catch(() => {});
  check("a wrong ticket answers 61006", (await page.textContent("#response")).includes('"errcode":61006'));
  await page.fill("#json_body", tokenBody(ticket));
  await page.click("#send");
  await page.waitForFunction(() => document.querySelector("#response").textContent.includes("component_access_token"),
    null, { timeout: 10000 }).catch(() => {});
  const ctoken = await page.inputValue("#component_access_token");
  check("api_component_token fills component_access_token", ctoken.length >= 43, await page.textContent("#response"));
  await page.selectOption("#endpoint", "component/api_create_preauthcode");
  await page.fill("#json_body", JSON.stringify({ component_appid: componentAppid }));
  await page.click("#send");
  await page.waitForFunction(() => document.querySelector("#response").textContent.includes("pre_auth_code"), null,
    { timeout: 10000 }).catch(() => {});
  const pre = await page.textContent("#response");
  check("api_create_preauthcode with that token", pre.includes('"pre_auth_code"') && pre.includes('"expires_in":600'), pre);
  check("the request names the token", (await page.textContent("#request")).includes(`component_access_token=${ctoken}`));
  await page.screenshot({ path: join(artifacts, "debug-page-component.png"), fullPage: true });

  // 5. The article workflow: a permanent material uploaded from the page, then a draft whose
  // content has a script and a picture from elsewhere; the page shows what the platform's
  // content rules removed (the API's answer says nothing of it).
  await page.selectOption("#endpoint", "material/add_material");
  await page.fill("#access_token", "");
  await page.selectOption("#material_type", "image");
  await page.setInputFiles("#media", picture);
  await page.click("#send");
  await page.waitForFunction(() => document.querySelector("#response").textContent.includes("media_id"), null,
    { timeout: 10000 }).catch(() => {});
  const matRaw = await page.textContent("#response");
  const mat = JSON.parse(matRaw.slice(matRaw.indexOf("{")) || "{}");
  check("add_material from the page answers media_id and url, no errcode",
    typeof mat.media_id === "string" && /wx_fmt=png/.test(mat.url || "") && !("errcode" in mat), matRaw);
  await page.selectOption("#endpoint", "api:draft/add");
  check("a draft call shows its body template", (await page.inputValue("#api_body")).includes("thumb_media_id"));
  const external = "http://example.invalid/elsewhere.png";
  await page.fill("#api_body", JSON.stringify({ articles: [{
    title: "From the debug page", thumb_media_id: mat.media_id,
    content: `<p>kept</p><img src="${mat.url}"><img src="${external}"><script>alert(1)</script>`,
  }] }));
  await page.click("#send");
  await page.waitForFunction(() => !document.querySelector("#cleaning").hidden, null, { timeout: 10000 }).catch(() => {});
  const draftRaw = await page.textContent("#response");
  check("draft/add from the page answers a media_id", /"media_id":"[^"]+"/.test(draftRaw), draftRaw);
  const cleaning = await page.textContent("#cleaning_report");
  check("the page shows the removed picture and the stripped script",
    cleaning.includes(external) && /script/i.test(cleaning) && !cleaning.includes(mat.url), cleaning);
  await page.screenshot({ path: join(artifacts, "debug-page-draft.png"), fullPage: true });

  check("nothing was loaded from outside the server", outside.length === 0, outside.join(" "));
} catch (e) {
  check("the browser session ran", false, String(e));
} finally {
  await browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
