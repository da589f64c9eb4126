"""wechatpy, unchanged, against a running wximg.

Usage: python wechatpy_test.py BASE_URL APPID SECRET WORKDIR
Prints one line per check: "ok - NAME" or "FAIL - NAME: DETAIL". Exit status 0 when all
checks ran (whatever their outcome), 2 on a usage error; run.sh counts the lines.

How wechatpy 1.8 is pointed at another host (read from its installed source):
- every API call goes through BaseWeChatClient._request, which joins a relative endpoint
  onto the class attribute API_BASE_URL (wechatpy/client/base.py, `_request`);
- WeChatMedia.upload_image posts the relative endpoint 'media/uploadimg' with
  files={'media': media_file} (wechatpy/client/api/media.py, `upload_image`), so it follows
  API_BASE_URL;
- the only hard-coded host on our path is the token URL in WeChatClient.fetch_access_token
  ('https://api.weixin.qq.com/cgi-bin/token', wechatpy/client/__init__.py), so that one method
  is overridden to call the library's own _fetch_access_token with the same params.
"""

import io
import os
import random
import sys
import urllib.request

import wechatpy
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy_checks import RESULTS, check


def make_client_class(base):
    class WximgClient(WeChatClient):
        API_BASE_URL = base + "/cgi-bin/"

        def fetch_access_token(self):
            # Same as WeChatClient.fetch_access_token, only the host differs.
            return self._fetch_access_token(
                url=base + "/cgi-bin/token",
                params={
                    "grant_type": "client_credential",
                    "appid": self.appid,
                    "secret": self.secret,
                },
            )

    return WximgClient


def http_get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def make_jpeg():
    from PIL import Image

    rnd = random.Random(os.urandom(16))
    w, h = 160, 120
    im = Image.new("RGB", (w, h))
    im.putdata([(rnd.randrange(256), (x * 2) % 256, (y * 2) % 256)
                for y in range(h) for x in range(w)])
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def make_png():
    from PIL import Image

    rnd = random.Random(os.urandom(16))
    im = Image.new("RGBA", (40, 30))
    im.putdata([(rnd.randrange(256), 80, 160, 255) for _ in range(40 * 30)])
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


# A valid 1x1 GIF89a: a real picture, but not one uploadimg accepts.
STALE = "stale" + "0" * 27  # a token wximg never issued

GIF_1X1 = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01"
           b"\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    base, appid, secret, work = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3], sys.argv[4]
    Client = make_client_class(base)
    client = Client(appid, secret)
    print("# wechatpy %s, API_BASE_URL=%s" % (wechatpy.__version__, Client.API_BASE_URL),
          flush=True)

    def token():
        res = client.fetch_access_token()
        assert isinstance(res.get("access_token"), str) and len(res["access_token"]) >= 16, \
            "no access_token in %r" % res
        assert res.get("expires_in") == 7200, "expires_in %r" % res.get("expires_in")
        assert client.access_token == res["access_token"], \
            "client.access_token does not return the fetched token"

    check("wechatpy: fetch_access_token via /cgi-bin/token", token)

    def bad_secret():
        bad = Client(appid, "0" * 32)
        try:
            bad.fetch_access_token()
        except WeChatClientException as e:
            assert e.errcode == 40125, "errcode %r (%r), want 40125" % (e.errcode, e.errmsg)
            return
        raise AssertionError("no WeChatClientException for a wrong secret")

    check("wechatpy: wrong secret raises WeChatClientException 40125", bad_secret)

    def upload_and_fetch(name, data, kind, filename):
        path = os.path.join(work, filename)
        with open(path, "wb") as f:
            f.write(data)
        with open(path, "rb") as f:  # a real file object, as the docstring asks
            url = client.media.upload_image(f)
        assert isinstance(url, str), "upload_image returned %r" % (url,)
        assert url.startswith(base + "/mmbiz_%s/" % kind), "url %r not under %s/mmbiz_%s/" % (
            url, base, kind)
        assert url.endswith("/0?from=appmsg"), "url %r does not end in /0?from=appmsg" % url
        status, ctype, body = http_get(url)
        assert status == 200, "GET %s -> %s" % (url, status)
        assert ctype == "image/%s" % ("jpeg" if kind == "jpg" else "png"), \
            "Content-Type %r" % ctype
        assert body == data, "fetched %d bytes differ from the %d uploaded" % (
            len(body), len(data))

    jpeg = make_jpeg()
    check("wechatpy: media.upload_image(JPEG file) -> URL serving the exact bytes",
          lambda: upload_and_fetch("jpeg", jpeg, "jpg", "photo.jpg"))
    check("wechatpy: media.upload_image(PNG file) -> URL serving the exact bytes",
          lambda: upload_and_fetch("png", make_png(), "png", "picture.png"))

    def refused(data, filename):
        def run():
            try:
                client.media.upload_image((filename, data))
            except WeChatClientException as e:
                assert e.errcode == 40005, "errcode %r (%r), want 40005" % (e.errcode, e.errmsg)
                assert "invalid file type" in str(e.errmsg), "errmsg %r" % e.errmsg
                return
            raise AssertionError("upload of %s was accepted" % filename)
        return run

    check("wechatpy: GIF refused with WeChatClientException 40005",
          refused(GIF_1X1, "anim.gif"))
    check("wechatpy: text file named .jpg refused with WeChatClientException 40005",
          refused(b"hello, this is not a picture\n", "notes.jpg"))

    def stale_token_retry():
        # A token the server does not know: the library gets 40001, fetches a new token
        # through fetch_access_token and sends the same request again (base.py,
        # _handle_result). With bytes (not a file object) the retry carries the picture.
        stale = Client(appid, secret, access_token=STALE)
        url = stale.media.upload_image(("again.jpg", jpeg))
        assert stale.session.get(stale.access_token_key) != STALE, "token was not refetched"
        status, _, body = http_get(url)
        assert status == 200 and body == jpeg, "retry upload did not serve the same bytes"

    check("wechatpy: unknown token -> 40001 -> library refetches token, retry uploads",
          stale_token_retry)

    def stale_token_file_object():
        # The same retry with a file object: requests already read it to EOF, so the
        # library's second request carries an empty `media` part; the real service (and
        # wximg) answers 41005 media data missing.
        stale = Client(appid, secret, access_token=STALE)
        path = os.path.join(work, "retry.jpg")
        with open(path, "wb") as f:
            f.write(jpeg)
        with open(path, "rb") as f:
            try:
                stale.media.upload_image(f)
            except WeChatClientException as e:
                assert e.errcode == 41005, "errcode %r (%r), want 41005" % (e.errcode, e.errmsg)
                return
        raise AssertionError("retry with a consumed file object was accepted")

    check("wechatpy: 40001 retry with a spent file object -> empty part -> 41005",
          stale_token_file_object)

    def early_answers_keep_alive():
        # What an SDK's token refresh runs on: an upload answered 40001 before the server
        # reads its body. On one requests.Session, a hundred in a row must all get their
        # answer ("remote end closed connection" is the failure) over one connection.
        import requests
        session = requests.Session()
        url = base + "/cgi-bin/media/uploadimg?access_token=" + STALE
        body = jpeg + b"\0" * (300 * 1024)
        for i in range(100):
            r = session.post(url, files={"media": ("big.jpg", body, "image/jpeg")}, timeout=10)
            code = r.json().get("errcode")
            assert code == 40001, "request %d: errcode %r" % (i, code)
            assert r.headers.get("Connection", "").lower() != "close", \
                "request %d: the server closed the connection" % i
        manager = session.get_adapter(url).poolmanager
        made = sum(manager.pools[key].num_connections for key in manager.pools.keys())
        assert made == 1, "%d connections for 100 requests on one session" % made

    check("requests.Session: 100 early 40001 answers in a row, one kept-alive connection",
          early_answers_keep_alive)

    return 0


if __name__ == "__main__":
    sys.exit(main())
