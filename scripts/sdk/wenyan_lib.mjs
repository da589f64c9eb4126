// What the two wenyan suites share (wenyan_test.mjs over a wrapped `fetch`,
// wenyan_tls_test.mjs over HTTPS on the platform's own names): the tally of checks, the
// article and its publish through wenyan's public `renderAndPublish`, the API calls that
// read the result back, and the byte-for-byte comparison of the draft's pictures with the
// writer's files. wenyan itself is imported only inside `publishWithWenyan`, so a caller
// can wrap the global `fetch` first (wenyan's node adapter captures it at load).

import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";

/// The article's body pictures (made by make_pictures.py, beside cover.jpg).
export const BODY_PICTURES = ["one.jpg", "two.png", "three.gif", "four.jpg"];

/// `check(name, cond, detail)` printing `ok - PREFIX: name` / `FAIL - …`, and `done()`,
/// which prints the tally and exits (0: the runner counts the FAIL lines).
export function checker(prefix) {
  const results = { ok: 0, fail: 0 };
  const check = (name, cond, detail = "") => {
    if (cond) {
      results.ok++;
      console.log(`ok - ${prefix}: ${name}`);
    } else {
      results.fail++;
      console.log(`FAIL - ${prefix}: ${name}: ${detail}`);
    }
    return cond;
  };
  const done = () => {
    console.error(`# ${prefix}: ${results.ok} ok, ${results.fail} failed`);
    process.exit(0);
  };
  return { check, done };
}

/// Writes the article (front matter with title and cover, `line` under the heading, the
/// body pictures) and publishes it with wenyan as its CLI does. Returns the draft's
/// media_id, or undefined (the check says why).
export async function publishWithWenyan({ check, work, appid, secret, nodeModules, pictures, title, line }) {
  process.env.XDG_CONFIG_HOME = path.join(work, "config");
  process.env.WECHAT_APP_ID = appid;
  process.env.WECHAT_APP_SECRET = secret;
  const md = [
    "---",
    `title: ${title}`,
    "author: wximg",
    `cover: ${path.join(pictures, "cover.jpg")}`,
    "---",
    "",
    `# ${title}`,
    "",
    line,
    "",
    ...BODY_PICTURES.flatMap((n) => [`![${n}](${n})`, ""]),
  ].join("\n");
  const file = path.join(work, "article.md");
  await writeFile(file, md);
  const wrapper = await import(pathToFileURL(path.join(nodeModules, "@wenyan-md/core/dist/wrapper.js")).href);
  const name = "renderAndPublish returns the draft's media_id";
  try {
    const draftId = await wrapper.renderAndPublish(
      undefined,
      { file, theme: "default", highlight: "solarized-light", macStyle: true, footnote: true, appId: appid },
      async () => ({ content: md, absoluteDirPath: pictures }),
    );
    check(name, typeof draftId === "string" && draftId.length > 0, String(draftId));
    return draftId || undefined;
  } catch (e) {
    check(name, false, e && e.stack ? e.stack : String(e));
    return undefined;
  }
}

/// `api(path, body)`: a POST of `body` as JSON to `{base}/cgi-bin/{path}` with a fresh
/// token, through `fetchFn` (the unwrapped `fetch` where the global one is wrapped).
export function apiCaller(base, appid, secret, fetchFn) {
  return async (p, body) => {
    const token = await (await fetchFn(`${base}/cgi-bin/token?grant_type=client_credential&appid=${appid}&secret=${secret}`)).json();
    const r = await fetchFn(`${base}/cgi-bin/${p}?access_token=${token.access_token}`, {
      method: "POST",
      body: JSON.stringify(body),
    });
    return r.json();
  };
}

/// The `src` of every `<img>` in `html`.
export const imgSources = (html) => [...(html || "").matchAll(/<img[^>]*?\bsrc=["']([^"']+)["']/gi)].map((m) => m[1]);

const sha = (b) => createHash("sha256").update(Buffer.from(b)).digest("hex");

/// Checks, as `name`, that the pictures at `urls` (fetched with `fetchFn(url)`) are the
/// body pictures byte for byte, in any order.
export async function checkServedAsWritten(check, name, urls, pictures, fetchFn) {
  const want = (await Promise.all(BODY_PICTURES.map(async (n) => sha(await readFile(path.join(pictures, n)))))).sort();
  const got = (await Promise.all(urls.map(async (u) => {
    try {
      const r = await fetchFn(u);
      return r.ok ? sha(await r.arrayBuffer()) : `status ${r.status}`;
    } catch (e) {
      return `error ${e} ${e.cause || ""}`;
    }
  }))).sort();
  check(name, JSON.stringify(got) === JSON.stringify(want), `${got} vs ${want}`);
}
