// @wenyan-md/core (npm), unchanged, rendering and publishing a Markdown article to a running
// wximg.
//
// Usage: node wenyan_test.mjs BASE_URL APPID SECRET WORKDIR NODE_MODULES PICTURES_DIR
// Prints one line per check: "ok - NAME" or "FAIL - NAME: DETAIL". Exit status 0 when all
// checks ran (whatever their outcome), 2 on a usage error; run.sh counts the lines.
//
// How wenyan 3.0 reaches the platform (read from its installed dist/):
// - dist/wechat.js hard-codes https://api.weixin.qq.com/cgi-bin/{token,material/add_material,
//   draft/add}; every body picture and the cover go through add_material type=image (the
//   cover with the filename cover.jpg), and it throws on any answer that has an `errcode`
//   key, even 0; it rewrites returned picture URLs from http:// to https://;
// - dist/wrapper.js's node adapter captures the global `fetch` when the module loads, and
//   downloads remote pictures with the global `fetch` too.
// It has no base-URL setting, so the host is redirected at the HTTP layer, as the issue
// asks: the global `fetch` is wrapped BEFORE wenyan is imported, sending requests for the
// platform's host to BASE_URL and refusing every other host (nothing may leave the
// machine). wenyan's code is not touched; its public `renderAndPublish` runs as its CLI
// calls it. Its token and upload caches go to a scratch XDG_CONFIG_HOME.

import {
  BODY_PICTURES, apiCaller, checker, checkServedAsWritten, imgSources, publishWithWenyan,
} from "./wenyan_lib.mjs";

const [base, appid, secret, work, nodeModules, pictures] = process.argv.slice(2);
if (!pictures) {
  console.error("usage: node wenyan_test.mjs BASE_URL APPID SECRET WORKDIR NODE_MODULES PICTURES_DIR");
  process.exit(2);
}
const { check, done } = checker("wenyan");

const REAL = "https://api.weixin.qq.com";
const host = new URL(base).host;
const log = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  if (url.startsWith(REAL + "/")) {
    const to = base + url.slice(REAL.length);
    log.push(["api", new URL(to).pathname]);
    return realFetch(to, init);
  }
  if (new URL(url).host === host) {
    log.push(["wximg", url]);
    // wenyan rewrote our http:// URL to https://; this test server speaks http.
    return realFetch(url.replace(/^https:/, "http:"), init);
  }
  log.push(["foreign", url]);
  throw new TypeError(`test harness: no network for ${url}`);
};

const draftId = await publishWithWenyan({
  check, work, appid, secret, nodeModules, pictures,
  title: "Hello from wenyan",
  line: "Some text with **bold**, a [link](https://example.com) and `code`.",
});
const foreign = log.filter(([k]) => k === "foreign").map(([, u]) => u);
check("no request left for another host", foreign.length === 0, foreign.slice(0, 5).join(" "));
const paths = log.filter(([k]) => k === "api").map(([, p]) => p);
check(
  "token, add_material for each picture and the cover, then draft/add",
  paths.includes("/cgi-bin/token")
    && paths.filter((p) => p === "/cgi-bin/material/add_material").length === BODY_PICTURES.length + 1
    && paths[paths.length - 1] === "/cgi-bin/draft/add",
  paths.join(" "),
);

const api = apiCaller(base, appid, secret, realFetch);
if (draftId) {
  const draft = await api("draft/get", { media_id: draftId });
  const items = draft.news_item || [];
  check("draft/get returns the draft wenyan made", items.length === 1, JSON.stringify(draft).slice(0, 300));
  const art = items[0] || {};
  const mats = (await api("material/batchget_material", { type: "image", offset: 0, count: 20 })).item || [];
  // Newest first: the cover this run uploaded (other suites share the account).
  const cover = mats.filter((m) => m.name === "cover.jpg").map((m) => m.media_id);
  check(
    "the draft's thumb_media_id is the cover's material",
    cover.length > 0 && art.thumb_media_id === cover[0],
    `thumb ${art.thumb_media_id}, materials ${JSON.stringify(mats.map((m) => [m.name, m.media_id]))}`,
  );
  const srcs = imgSources(art.content);
  check("every body picture is in the draft", srcs.length === BODY_PICTURES.length, srcs.join(" "));
  const ours = srcs.filter((s) => {
    try { return new URL(s).host === host; } catch { return false; }
  });
  check("every picture of the draft points at wximg", ours.length === srcs.length && srcs.length > 0, srcs.join(" "));
  await checkServedAsWritten(check, "each draft picture is served byte for byte as the writer's file", ours, pictures,
    (u) => realFetch(u.replace(/^https:/, "http:")));
  check("the title arrived", art.title === "Hello from wenyan", JSON.stringify(art.title));
  check("the rendered content is styled inline (wenyan's theme)", /style="/.test(art.content || ""), (art.content || "").slice(0, 200));
}
done();
