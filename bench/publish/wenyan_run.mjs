// @wenyan-md/core (npm), unchanged, publishing ARTICLE as a draft to the wximg at BASE_URL.
//
// Usage: node wenyan_run.mjs BASE_URL APPID SECRET ARTICLE NODE_MODULES CONFIG_DIR
// Prints `MEDIA_ID=<id>` (empty when it failed) as its last line. The global fetch is
// wrapped before wenyan loads, as in scripts/sdk/wenyan_test.mjs: the platform's host goes
// to BASE_URL (wenyan's https:// rewrite of returned URLs is undone for this http server),
// any other host is refused. Its public renderAndPublish runs as its CLI calls it.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [base, appid, secret, file, nodeModules, config] = process.argv.slice(2);
const REAL = "https://api.weixin.qq.com";
const host = new URL(base).host;
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  if (url.startsWith(REAL + "/")) return realFetch(base + url.slice(REAL.length), init);
  if (new URL(url).host === host) return realFetch(url.replace(/^https:/, "http:"), init);
  throw new TypeError(`bench: no network for ${url}`);
};
process.env.XDG_CONFIG_HOME = config;
process.env.WECHAT_APP_ID = appid;
process.env.WECHAT_APP_SECRET = secret;
const md = await readFile(file, "utf8");
const wrapper = await import(pathToFileURL(path.join(nodeModules, "@wenyan-md/core/dist/wrapper.js")).href);
let id = "";
try {
  id = await wrapper.renderAndPublish(
    undefined,
    { file, theme: "default", highlight: "solarized-light", macStyle: true, footnote: true, appId: appid },
    async () => ({ content: md, absoluteDirPath: path.dirname(file) }),
  );
} catch (e) {
  console.error(e && e.stack ? e.stack : String(e));
}
console.log(`MEDIA_ID=${id || ""}`);
