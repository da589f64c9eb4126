"""wechatpy, unchanged and unsubclassed, against a wximg serving HTTPS on the platform's
own host names — as a developer runs it after `wximg tls init`.

Usage: REQUESTS_CA_BUNDLE=…/ca.pem python wechatpy_tls_test.py LOOPBACK APPID SECRET WORKDIR
Prints one line per check: "ok - NAME" or "FAIL - NAME: DETAIL". Exit status 0 when all
checks ran (whatever their outcome), 2 on a usage error; run.sh counts the lines.

wechatpy 1.8 hard-codes https://api.weixin.qq.com/cgi-bin/token (WeChatClient.
fetch_access_token) and its API_BASE_URL is https://api.weixin.qq.com/cgi-bin/. Nothing of
it is changed here: the stock `WeChatClient(appid, secret)` is used. The test resolves the
platform's names to LOOPBACK (where `wximg serve --tls-cert … --listen LOOPBACK:443
--public-url https://mmbiz.qpic.cn` listens) by replacing `socket.getaddrinfo` — name
resolution only, every other name fails to resolve — and requests trusts the local CA
through its own setting, REQUESTS_CA_BUNDLE.
"""

import io
import os
import random
import socket
import sys

NAMES = {"api.weixin.qq.com", "mmbiz.qpic.cn"}
LOOKUPS = []


def install_resolver(loopback):
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.lower() in NAMES:
            LOOKUPS.append(name)
            return real(loopback, port, socket.AF_INET, type, proto, flags)
        if name in (loopback,):
            return real(host, port, family, type, proto, flags)
        LOOKUPS.append(name + " (refused)")
        raise socket.gaierror(socket.EAI_NONAME, "test: only the platform's names resolve")

    socket.getaddrinfo = getaddrinfo


def make_jpeg():
    from PIL import Image

    rnd = random.Random(os.urandom(16))
    w, h = 96, 64
    im = Image.new("RGB", (w, h))
    im.putdata([(rnd.randrange(256), (x * 3) % 256, (y * 3) % 256)
                for y in range(h) for x in range(w)])
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90)
    return out.getvalue()


def main():
    if len(sys.argv) != 5 or not os.environ.get("REQUESTS_CA_BUNDLE"):
        print(__doc__, file=sys.stderr)
        return 2
    loopback, appid, secret, work = sys.argv[1:]
    install_resolver(loopback)

    import certifi
    import requests
    from wechatpy import WeChatClient
    from wechatpy_checks import RESULTS, check

    client = WeChatClient(appid, secret)
    prefix = "wechatpy over TLS: "

    def token():
        got = client.fetch_access_token()
        assert got.get("access_token"), "no access_token in %r" % (got,)
        assert "api.weixin.qq.com" in LOOKUPS, "api.weixin.qq.com was not looked up: %r" % LOOKUPS

    check(prefix + "stock WeChatClient.fetch_access_token (hard-coded https://api.weixin.qq.com)",
          token)

    def without_ca():
        try:
            requests.get("https://api.weixin.qq.com/cgi-bin/token", verify=certifi.where(),
                         timeout=10)
        except requests.exceptions.SSLError:
            return
        raise AssertionError("the server's certificate validated without the local CA")

    check(prefix + "without REQUESTS_CA_BUNDLE's CA the certificate is refused", without_ca)

    def upload():
        data = make_jpeg()
        path = os.path.join(work, "tls.jpg")
        with open(path, "wb") as f:
            f.write(data)
        with open(path, "rb") as f:
            url = client.media.upload_image(f)
        assert isinstance(url, str) and url.startswith("https://mmbiz.qpic.cn/mmbiz_jpg/"), \
            "url %r" % (url,)
        r = requests.get(url, timeout=10)
        assert r.status_code == 200, "GET %s -> %s" % (url, r.status_code)
        assert r.content == data, "fetched bytes differ from the uploaded ones"
        assert "mmbiz.qpic.cn" in LOOKUPS, "mmbiz.qpic.cn was not looked up: %r" % LOOKUPS

    check(prefix + "media.upload_image -> https://mmbiz.qpic.cn URL serving the exact bytes",
          upload)

    def nothing_else():
        refused = [n for n in LOOKUPS if n.endswith("(refused)")]
        assert not refused, "other names looked up: %r" % refused

    check(prefix + "no other name was looked up (nothing left the machine)", nothing_else)
    print("# wechatpy over TLS: %d ok, %d failed" % (sum(RESULTS), len(RESULTS) - sum(RESULTS)),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
