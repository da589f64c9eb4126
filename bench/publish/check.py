"""What a draft holds, as a writer would judge it: BASE APPID SECRET MEDIA_ID WANT_PICTURES.

Prints one JSON object: pictures in the draft and how many are on the server, what the
platform would strip (<style>, class), elements without inline style, external links left
as links (the platform removes them), a references list, code whitespace kept, the
metadata, and the cover.
"""

import json
import re
import sys
import urllib.parse
import urllib.request


def main():
    base, appid, secret, media_id, want = sys.argv[1:6]
    tok = json.loads(urllib.request.urlopen(
        f"{base}/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}",
        timeout=10).read())["access_token"]
    req = urllib.request.Request(f"{base}/cgi-bin/draft/get?access_token={tok}",
                                 data=json.dumps({"media_id": media_id}).encode())
    got = json.loads(urllib.request.urlopen(req, timeout=10).read())
    items = got.get("news_item") or []
    if not items:
        print(json.dumps({"draft": False, "answer": got}))
        return
    art = items[0]
    html = art.get("content", "")
    host = urllib.parse.urlsplit(base).netloc
    srcs = re.findall(r"<img[^>]*?\bsrc=[\"']([^\"']+)[\"']", html, re.I)
    tags = re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)([^>]*)>", html)
    unstyled = sorted({t for t, a in tags if "style=" not in a})
    links = [h for h in re.findall(r"<a[^>]*?\bhref=[\"']([^\"']+)[\"']", html, re.I)
             if not urllib.parse.urlsplit(h).netloc.endswith("mp.weixin.qq.com")]
    pre = re.findall(r"<pre[^>]*>(.*?)</pre>", html, re.S | re.I)
    print(json.dumps({
        "draft": True,
        "pictures": len(srcs),
        "want": int(want),
        "on_server": sum(1 for s in srcs if urllib.parse.urlsplit(s).netloc == host),
        "style_tags": len(re.findall(r"<style", html, re.I)),
        "class_attrs": len(re.findall(r"\sclass=", html)),
        "elements": len(tags),
        "unstyled_elements": sum(1 for t, a in tags if "style=" not in a),
        "unstyled_kinds": unstyled[:12],
        "external_links_kept": len(links),
        "references": ("引用链接" in html) or ("参考" in html),
        "code_indent_kept": any(("white-space" in p) or ("&nbsp;" in p) or ("    " in p) for p in pre)
        or "white-space: pre" in html,
        "title": art.get("title"),
        "author": art.get("author"),
        "digest": art.get("digest"),
        "thumb": bool(art.get("thumb_url")),
        "bytes": len(html.encode()),
    }, ensure_ascii=False))


main()
