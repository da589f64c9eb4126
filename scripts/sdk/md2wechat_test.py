"""md2wechat (PyPI), unchanged, publishing a Markdown article to a running wximg.

Usage: python md2wechat_test.py BASE_URL APPID SECRET WORKDIR
Prints one line per check: "ok - NAME" or "FAIL - NAME: DETAIL". Exit status 0 when all
checks ran (whatever their outcome), 2 on a usage error; run.sh counts the lines.

How md2wechat 2.0 reaches the platform (read from its installed source,
skills/md2wechat/scripts/):
- wechat_client.py builds a wechatpy `WeChatClient(appid, secret)` with wechatpy's own,
  hard-coded `https://api.weixin.qq.com/cgi-bin/` base; pictures (the cover and every body
  picture) go through `client.material.add("image", f)` (material/add_material) and the
  article through `client.post("draft/add", …)`;
- wechatpy talks through one `requests.Session` per client.
It has no base-URL setting, so the host is redirected at the HTTP layer, as the issue asks:
every `requests.Session` made in this process gets a transport adapter mounted on
`https://api.weixin.qq.com/` that sends the same request to BASE_URL instead. Any other
host is refused and recorded (nothing may leave the machine). md2wechat's code is not
touched: its CLI entry point `main()` runs with the arguments a writer would type.
"""

import contextlib
import hashlib
import io
import json
import os
import re
import sys
import urllib.parse
import urllib.request

import requests
import requests.adapters

import make_pictures

RESULTS = {"ok": 0, "fail": 0}


def check(name, cond, detail=""):
    if cond:
        RESULTS["ok"] += 1
        print(f"ok - md2wechat: {name}")
    else:
        RESULTS["fail"] += 1
        print(f"FAIL - md2wechat: {name}: {detail}")
    sys.stdout.flush()
    return cond


REAL_HOST = "https://api.weixin.qq.com"


class Redirect(requests.adapters.HTTPAdapter):
    """Sends requests for the platform's host to wximg; refuses every other host."""

    def __init__(self, base, log):
        super().__init__()
        self.base = base
        self.log = log

    def send(self, request, **kwargs):
        url = request.url
        if url.startswith(REAL_HOST + "/"):
            request.url = self.base + url[len(REAL_HOST):]
            self.log.append(("api", urllib.parse.urlsplit(request.url).path))
        elif url.startswith(self.base + "/"):
            self.log.append(("wximg", urllib.parse.urlsplit(url).path))
        else:
            self.log.append(("foreign", url))
            raise requests.exceptions.ConnectionError(f"test harness: no network for {url}")
        return super().send(request, **kwargs)


def install_redirect(base, log):
    original = requests.Session.__init__

    def init(self, *a, **kw):
        original(self, *a, **kw)
        adapter = Redirect(base, log)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    requests.Session.__init__ = init


def api(base, token, path, body=None, query=""):
    url = f"{base}/cgi-bin/{path}?access_token={token}{query}"
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as r:
        return json.loads(r.read())


def fetch(url):
    # The article may say https (some tools rewrite it); wximg here serves plain http.
    url = re.sub(r"^https://", "http://", url)
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read()


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    base, appid, secret, work = sys.argv[1:]
    host = urllib.parse.urlsplit(base).netloc

    # An article as a writer has it: front matter, a heading, body pictures of three
    # formats beside it, and a cover.
    body, _cover = make_pictures.write_all(work)
    md = ["---", "title: Hello from md2wechat", "---", "", "# Hello from md2wechat", "",
          "Some text with **bold** and `code`.", ""]
    for name in body:
        md += [f"![{name}]({name})", ""]
    article = os.path.join(work, "article.md")
    with open(article, "w", encoding="utf-8") as f:
        f.write("\n".join(md))

    log = []
    install_redirect(base, log)
    os.environ["WECHAT_APPID"] = appid
    os.environ["WECHAT_APP_SECRET"] = secret
    from skills.md2wechat.scripts import publish as md2wechat_cli

    out = io.StringIO()
    sys.argv = ["md2wechat", "--markdown", article, "--cover", os.path.join(work, "cover.jpg"),
                "--author", "wximg", "--comment"]
    status = None
    cwd = os.getcwd()
    os.chdir(work)
    try:
        with contextlib.redirect_stdout(out):
            md2wechat_cli.main()
    except SystemExit as e:
        status = e.code
    finally:
        os.chdir(cwd)
    printed = out.getvalue()
    sys.stderr.write(printed)
    check("the CLI exits 0", status in (0, None), f"exit {status}; printed:\n{printed[-2000:]}")
    m = re.search(r"\{.*\}\s*$", printed, re.S)
    result = {}
    if m:
        try:
            result = json.loads(m.group(0))
        except ValueError:
            pass
    draft_id = (result.get("data") or {}).get("media_id")
    check("md2wechat reports success with the draft's media_id",
          result.get("success") is True and bool(draft_id), json.dumps(result)[:500])
    foreign = [u for kind, u in log if kind == "foreign"]
    check("no request left for another host", not foreign, str(foreign[:5]))
    paths = [p for kind, p in log if kind == "api"]
    check("token, add_material for each picture and the cover, then draft/add",
          paths.count("/cgi-bin/material/add_material") == len(body) + 1
          and paths[-1:] == ["/cgi-bin/draft/add"] and "/cgi-bin/token" in paths, str(paths))
    if not draft_id:
        return 0

    token = json.loads(urllib.request.urlopen(
        f"{base}/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}",
        timeout=10).read())["access_token"]
    draft = api(base, token, "draft/get", {"media_id": draft_id})
    items = draft.get("news_item") or []
    check("draft/get returns the draft md2wechat made", len(items) == 1, json.dumps(draft)[:300])
    if not items:
        return 0
    art = items[0]
    mats = api(base, token, "material/batchget_material",
               {"type": "image", "offset": 0, "count": 20}).get("item", [])
    cover_ids = [m["media_id"] for m in mats if m.get("name") == "cover.jpg"]
    check("the draft's thumb_media_id is the cover's material",
          cover_ids and art.get("thumb_media_id") == cover_ids[0],
          f"thumb {art.get('thumb_media_id')}, materials {[(m.get('name'), m.get('media_id')) for m in mats]}")
    srcs = re.findall(r"<img[^>]*?\bsrc=[\"']([^\"']+)[\"']", art.get("content", ""), re.I)
    check("every body picture is in the draft", len(srcs) == len(body), str(srcs))
    ours = [s for s in srcs if urllib.parse.urlsplit(s).netloc == host]
    check("every picture of the draft points at wximg", len(ours) == len(srcs) and srcs, str(srcs))
    want = sorted(hashlib.sha256(d).hexdigest() for d in body.values())
    got = []
    for s in ours:
        try:
            code, data = fetch(s)
            got.append(hashlib.sha256(data).hexdigest() if code == 200 else f"status {code}")
        except Exception as e:  # noqa: BLE001 - reported as a failed check
            got.append(f"error {e}")
    check("each draft picture is served byte for byte as the writer's file", sorted(got) == want,
          f"{got} vs {want}")
    check("the title and author arrived", art.get("title") == "Hello from md2wechat"
          and art.get("author") == "wximg", f"{art.get('title')!r} {art.get('author')!r}")
    return 0


if __name__ == "__main__":
    code = main()
    print(f"# md2wechat: {RESULTS['ok']} ok, {RESULTS['fail']} failed", file=sys.stderr)
    sys.exit(code)
