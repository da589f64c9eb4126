"""md2wechat (PyPI), unchanged, publishing ARTICLE as a draft to the wximg at BASE_URL.

Usage: python md2wechat_run.py BASE_URL APPID SECRET ARTICLE COVER
Prints `MEDIA_ID=<id>` (empty when it failed) as its last line. The platform's host is
redirected at the HTTP layer as in scripts/sdk/md2wechat_test.py: every requests.Session
gets a transport adapter sending https://api.weixin.qq.com/… to BASE_URL; any other host
is refused (nothing leaves the machine). md2wechat's own CLI entry point runs with the
arguments a writer types.
"""

import contextlib
import io
import json
import os
import re
import sys

import requests
import requests.adapters

REAL = "https://api.weixin.qq.com"


class Redirect(requests.adapters.HTTPAdapter):
    def __init__(self, base):
        super().__init__()
        self.base = base

    def send(self, request, **kwargs):
        if request.url.startswith(REAL + "/"):
            request.url = self.base + request.url[len(REAL):]
        elif not request.url.startswith(self.base + "/"):
            raise requests.exceptions.ConnectionError(f"bench: no network for {request.url}")
        return super().send(request, **kwargs)


def main():
    base, appid, secret, article, cover = sys.argv[1:6]
    original = requests.Session.__init__

    def init(self, *a, **kw):
        original(self, *a, **kw)
        self.mount("https://", Redirect(base))
        self.mount("http://", Redirect(base))

    requests.Session.__init__ = init
    os.environ["WECHAT_APPID"] = appid
    os.environ["WECHAT_APP_SECRET"] = secret
    from skills.md2wechat.scripts import publish as cli

    out = io.StringIO()
    sys.argv = ["md2wechat", "--markdown", article, "--cover", cover, "--author", "wximg"]
    os.chdir(os.path.dirname(os.path.abspath(article)))
    try:
        with contextlib.redirect_stdout(out):
            cli.main()
    except SystemExit:
        pass
    printed = out.getvalue()
    sys.stderr.write(printed[-3000:])
    media_id = ""
    m = re.search(r"\{.*\}\s*$", printed, re.S)
    if m:
        try:
            media_id = (json.loads(m.group(0)).get("data") or {}).get("media_id") or ""
        except ValueError:
            pass
    print(f"MEDIA_ID={media_id}")


main()
