// @wenyan-md/core (npm), unchanged AND unwrapped, publishing a Markdown article to a wximg
// that serves HTTPS on the platform's own host names — the way a developer runs it after
// `wximg tls init`: no code change, no base-URL knob, no wrapped `fetch`.
//
// Usage: node --import ./resolve_loopback.mjs wenyan_tls_test.mjs APPID SECRET WORKDIR NODE_MODULES PICTURES_DIR
// with NODE_EXTRA_CA_CERTS=…/ca.pem (the client's own CA setting), WXIMG_LOOPBACK=127.x.y.z
// and WXIMG_RESOLVE_LOG=FILE (see resolve_loopback.mjs).
// Prints one line per check: "ok - NAME" or "FAIL - NAME: DETAIL". Exit status 0 when all
// checks ran (whatever their outcome), 2 on a usage error; run.sh counts the lines.
//
// wenyan 3.0 hard-codes https://api.weixin.qq.com/cgi-bin/{token,material/add_material,
// draft/add} (dist/wechat.js) and rewrites returned picture URLs to https://. Here the
// server runs `wximg serve --tls-cert … --listen 127.x.y.z:443 --public-url
// https://mmbiz.qpic.cn`, the preload resolves api.weixin.qq.com and mmbiz.qpic.cn to that
// address, and Node trusts the CA through NODE_EXTRA_CA_CERTS.

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import {
  BODY_PICTURES, apiCaller, checker, checkServedAsWritten, imgSources, publishWithWenyan,
} from "./wenyan_lib.mjs";

const [appid, secret, work, nodeModules, pictures] = process.argv.slice(2);
if (!pictures || !process.env.NODE_EXTRA_CA_CERTS || !process.env.WXIMG_RESOLVE_LOG) {
  console.error("usage: NODE_EXTRA_CA_CERTS=ca.pem WXIMG_LOOPBACK=127.x.y.z WXIMG_RESOLVE_LOG=FILE node --import ./resolve_loopback.mjs wenyan_tls_test.mjs APPID SECRET WORKDIR NODE_MODULES PICTURES_DIR");
  process.exit(2);
}
const { check, done } = checker("wenyan over TLS");

const API = "https://api.weixin.qq.com";
const PICTURE_HOST = "mmbiz.qpic.cn";
const lookups = () => (existsSync(process.env.WXIMG_RESOLVE_LOG) ? readFileSync(process.env.WXIMG_RESOLVE_LOG, "utf8") : "")
  .split("\n")
  .filter(Boolean);

// The platform's host, as any client would call it: the plain global fetch.
const tok = await (await fetch(`${API}/cgi-bin/token?grant_type=client_credential&appid=${appid}&secret=${secret}`)).json().catch((e) => ({ error: String(e) }));
check("GET https://api.weixin.qq.com/cgi-bin/token answers a token", typeof tok.access_token === "string", JSON.stringify(tok));

// Without the CA the same request must fail: the trust comes from NODE_EXTRA_CA_CERTS alone.
const here = path.dirname(fileURLToPath(import.meta.url));
const probe = spawnSync(process.execPath, [
  "--import", pathToFileURL(path.join(here, "resolve_loopback.mjs")).href,
  "-e", `fetch(${JSON.stringify(API + "/cgi-bin/token")}).then(() => console.log("served"), (e) => console.log("refused", e.cause && e.cause.code))`,
], { env: { ...process.env, NODE_EXTRA_CA_CERTS: "", WXIMG_RESOLVE_LOG: "" }, encoding: "utf8", timeout: 30000 });
check("without NODE_EXTRA_CA_CERTS the certificate is refused", /^refused/.test(probe.stdout || ""), `${probe.stdout} ${probe.stderr}`);

const draftId = await publishWithWenyan({
  check, work, appid, secret, nodeModules, pictures,
  title: "Hello over TLS",
  line: "Published by wenyan, unchanged, to https://api.weixin.qq.com (a local wximg).",
});
const seen = lookups();
const refused = seen.filter((l) => l.endsWith("-> refused"));
check("no other name was looked up (nothing left the machine)", refused.length === 0, refused.join(", "));
check("api.weixin.qq.com was resolved through the test override", seen.some((l) => l.startsWith("api.weixin.qq.com ->")), seen.join(", "));

const api = apiCaller(API, appid, secret, fetch);
if (draftId) {
  const draft = await api("draft/get", { media_id: draftId });
  const art = (draft.news_item || [])[0] || {};
  check("draft/get returns the draft wenyan made", art.title === "Hello over TLS", JSON.stringify(draft).slice(0, 300));
  const srcs = imgSources(art.content);
  check(
    "every body picture points at https://mmbiz.qpic.cn/mmbiz_…",
    srcs.length === BODY_PICTURES.length && srcs.every((s) => s.startsWith(`https://${PICTURE_HOST}/mmbiz_`)),
    srcs.join(" "),
  );
  await checkServedAsWritten(check, "each picture is served over https://mmbiz.qpic.cn byte for byte", srcs, pictures, fetch);
  check("the pictures were fetched by the name mmbiz.qpic.cn", lookups().some((l) => l.startsWith(`${PICTURE_HOST} ->`)), lookups().join(", "));
}
done();
