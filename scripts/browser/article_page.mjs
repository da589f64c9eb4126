// The published article's page (`/s/<id>`) in a real headless Chromium, as a reader on a
// phone sees it: publish an article through the API (token → uploadimg for a body
// picture → add_material for the cover → draft/add with that picture, an outside one and
// a script → freepublish/submit → freepublish/get), open its article_url, and check that
// every picture loaded (natural size > 0), that no request went to another host, that
// the outside picture and the script are gone; then take a screenshot.
//
//   node article_page.mjs BASE_URL APPID SECRET ARTIFACTS_DIR
//
// Prints one line per check and then `N passed, M failed`; exits non-zero on a failure.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { deflateSync } from "node:zlib";
import { join } from "node:path";

const [base, appid, secret, artifacts] = process.argv.slice(2);
if (!base || !appid || !secret || !artifacts) {
  console.error("usage: node article_page.mjs BASE_URL APPID SECRET ARTIFACTS_DIR");
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });

// Real PNGs (gradients), made here so the test needs no image tool.
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
function png(width, height, blue) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) row.set([(x * 3) & 255, (y * 5) & 255, blue], 1 + x * 3);
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr), chunk("IDAT", deflateSync(Buffer.concat(rows))), chunk("IEND", Buffer.alloc(0)),
  ]);
}

let passed = 0, failed = 0;
function check(name, ok, detail = "") {
  if (ok) { passed++; console.log(`ok    ${name}`); }
  else { failed++; console.log(`FAIL  ${name} ${detail}`); }
}
function done() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

async function api(path, body) {
  const resp = await fetch(base + path, { method: "POST", body: JSON.stringify(body) });
  return resp.json();
}
async function upload(path, field, bytes, filename) {
  const form = new FormData();
  form.append(field, new Blob([bytes], { type: "image/png" }), filename);
  const resp = await fetch(base + path, { method: "POST", body: form });
  return resp.json();
}

// 1. Publish an article through the API.
const t = await (await fetch(`${base}/cgi-bin/token?grant_type=client_credential&appid=${appid}&secret=${secret}`)).json();
const token = t.access_token;
check("token", typeof token === "string", JSON.stringify(t));
const body = await upload(`/cgi-bin/media/uploadimg?access_token=${token}`, "media", png(320, 200, 180), "body.png");
check("uploadimg", typeof body.url === "string", JSON.stringify(body));
const cover = await upload(`/cgi-bin/material/add_material?access_token=${token}&type=image`, "media", png(90, 60, 40), "cover.png");
check("add_material", typeof cover.media_id === "string", JSON.stringify(cover));
const outside = "https://example.com/outside.png";
const content =
  `<section style="padding:8px;background:#f6f6f6"><p style="color:#576b95">正文 — the article body.</p>` +
  `<p><img src="${body.url}" style="width:100%"></p>` +
  `<p><img src="${outside}"></p><script>document.title="pwned"</script>` +
  `<p onclick="alert(1)">end</p></section>`;
const draft = await api(`/cgi-bin/draft/add?access_token=${token}`, {
  articles: [{ title: "A <b>title</b> & more", author: "wximg", content, thumb_media_id: cover.media_id }],
});
check("draft/add", typeof draft.media_id === "string" && draft.errcode === undefined, JSON.stringify(draft));
const submitted = await api(`/cgi-bin/freepublish/submit?access_token=${token}`, { media_id: draft.media_id });
check("freepublish/submit", submitted.errcode === 0 && typeof submitted.publish_id === "string", JSON.stringify(submitted));
let status = {};
for (let i = 0; i < 50; i++) {
  status = await api(`/cgi-bin/freepublish/get?access_token=${token}`, { publish_id: submitted.publish_id });
  if (status.publish_status !== 1) break;
  await new Promise((r) => setTimeout(r, 100));
}
check("freepublish/get: success", status.publish_status === 0, JSON.stringify(status));
const articleUrl = status.article_detail?.item?.[0]?.article_url;
check("an article_url on this server", typeof articleUrl === "string" && articleUrl.startsWith(base + "/s/"), String(articleUrl));
if (failed) done();

// 2. The page, in Chromium at a phone's width.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run"],
});
try {
  const page = await browser.newPage({ viewport: { width: 375, height: 812 }, deviceScaleFactor: 2 });
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  const resp = await page.goto(articleUrl, { waitUntil: "load" });
  check("the page answers 200", resp.status() === 200, String(resp.status()));
  const csp = resp.headers()["content-security-policy"] || "";
  check("a Content-Security-Policy that allows only same-origin pictures", csp.includes("default-src 'none'") && csp.includes("img-src 'self'"), csp);
  const origin = new URL(base).origin;
  const elsewhere = requests.filter((u) => !u.startsWith("data:") && new URL(u).origin !== origin);
  check("no request to another host", elsewhere.length === 0, elsewhere.join(" "));
  const pictures = await page.$$eval("img", (imgs) => imgs.map((i) => ({ src: i.currentSrc || i.src, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight })));
  check("the hosted picture is there", pictures.some((p) => p.src === body.url), JSON.stringify(pictures));
  check("every picture loaded (natural size > 0)", pictures.length > 0 && pictures.every((p) => p.complete && p.w > 0 && p.h > 0), JSON.stringify(pictures));
  check("the outside picture is gone", !pictures.some((p) => p.src === outside));
  const html = await page.content();
  check("the script is gone", !html.includes("<script") && (await page.title()) !== "pwned", await page.title());
  check("the title is escaped text", (await page.textContent("h1")) === "A <b>title</b> & more");
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  check("nothing wider than the phone", width <= 375, String(width));
  await page.screenshot({ path: join(artifacts, "article-page.png"), fullPage: true });
  check("screenshot", true);
} finally {
  await browser.close();
}
done();
