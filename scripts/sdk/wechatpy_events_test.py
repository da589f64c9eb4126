"""PUBLISHJOBFINISH pushes from a running wximg, received and parsed by wechatpy.

Usage: python wechatpy_events_test.py BASE_URL APPID SECRET WORKDIR WXIMG_BIN DATA_DIR
Prints one line per check: "ok - NAME" or "FAIL - NAME: DETAIL" (run.sh counts them).

For each message encryption mode (plain, safe, compatible) it starts a receiver on a
random loopback port, points the app's callback at it (`wximg app callback`, which
writes the storage the server reads), then drives a publish job over HTTP as a real
client does: token → material/add_material?type=image (the cover) → draft/add →
freepublish/submit. The push that arrives is checked the way a receiver built on
wechatpy checks it: `wechatpy.utils.check_signature` (plain), `WeChatCrypto(token,
EncodingAESKey, appid).decrypt_message` (safe, compatible: msg_signature and the
AES payload), then `wechatpy.parse_message`. The receiver answers "success", so exactly
one push per job is expected.
"""

import http.server
import io
import json
import os
import queue
import random
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import xmltodict
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature
from wechatpy_checks import RESULTS, check

TOKEN = "wximgEvents42"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"  # 43 characters, wechatpy's test key
WAIT = 30  # seconds a push may take to arrive


class Receiver(http.server.BaseHTTPRequestHandler):
    pushes = queue.Queue()

    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        Receiver.pushes.put((query, body, self.headers.get("Content-Type", "")))
        reply = b"success"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def start_receiver():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, "http://127.0.0.1:%d/wx/callback" % server.server_address[1]


def call(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read().decode("utf-8"))


def make_jpeg():
    from PIL import Image

    rnd = random.Random(os.urandom(16))
    im = Image.new("RGB", (120, 90))
    im.putdata([(rnd.randrange(256), (x * 2) % 256, (y * 2) % 256)
                for y in range(90) for x in range(120)])
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def multipart(field, filename, data):
    boundary = "wximg%016x" % random.getrandbits(64)
    head = ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n" % (boundary, field, filename)).encode()
    tail = ("\r\n--%s--\r\n" % boundary).encode()
    return head + data + tail, "multipart/form-data; boundary=" + boundary


def publish(base, token):
    """The article workflow over HTTP; returns the publish_id."""
    body, ctype = multipart("media", "cover.jpg", make_jpeg())
    cover = call("POST", "%s/cgi-bin/material/add_material?access_token=%s&type=image" % (base, token),
                 body, {"Content-Type": ctype})
    assert "media_id" in cover, "add_material: %r" % cover
    article = {"articles": [{
        "title": "wximg events",
        "author": "wximg",
        "content": "<p>an article whose publication is pushed</p>",
        "thumb_media_id": cover["media_id"],
    }]}
    draft = call("POST", "%s/cgi-bin/draft/add?access_token=%s" % (base, token),
                 json.dumps(article).encode("utf-8"), {"Content-Type": "application/json"})
    assert "media_id" in draft, "draft/add: %r" % draft
    submitted = call("POST", "%s/cgi-bin/freepublish/submit?access_token=%s" % (base, token),
                     json.dumps({"media_id": draft["media_id"]}).encode("utf-8"),
                     {"Content-Type": "application/json"})
    assert submitted.get("errcode", 0) == 0 and "publish_id" in submitted, \
        "freepublish/submit: %r" % submitted
    return str(submitted["publish_id"])


def set_callback(bin_path, data_dir, appid, url, mode):
    args = [bin_path, "app", "callback", appid, "--url", url, "--token", TOKEN,
            "--mode", mode, "--data", data_dir, "--json"]
    if mode != "plain":
        args += ["--aes-key", AES_KEY]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, "wximg app callback: %s" % out.stderr.strip()
    return json.loads(out.stdout)


def next_push(publish_id):
    """The first push of `publish_id` to arrive (others are kept for the caller's count)."""
    deadline = time.time() + WAIT
    while time.time() < deadline:
        try:
            return Receiver.pushes.get(timeout=max(0.1, deadline - time.time()))
        except queue.Empty:
            break
    raise AssertionError("no push within %d s for publish_id %s" % (WAIT, publish_id))


def check_mode(base, token, appid, bin_path, data_dir, mode):
    server, url = start_receiver()
    try:
        shown = set_callback(bin_path, data_dir, appid, url, mode)
        assert shown["mode"] == mode, shown
        publish_id = publish(base, token)
        query, body, ctype = next_push(publish_id)
        for name in ("signature", "timestamp", "nonce", "openid"):
            assert name in query, "query lacks %s: %r" % (name, query)
        # Every mode carries the plain signature.
        check_signature(TOKEN, query["signature"], query["timestamp"], query["nonce"])
        if mode == "plain":
            assert "encrypt_type" not in query, query
            xml = body
        else:
            assert query.get("encrypt_type") == "aes", query
            crypto = WeChatCrypto(TOKEN, AES_KEY, appid)
            xml = crypto.decrypt_message(body, query["msg_signature"], query["timestamp"],
                                         query["nonce"])
            outer = xmltodict.parse(body)["xml"]
            assert ("Event" in outer) == (mode == "compatible"), \
                "%s mode's body: %r" % (mode, sorted(outer))
        msg = parse_message(xml)
        data = msg._data  # PUBLISHJOBFINISH is unknown to wechatpy 1.8: its raw fields
        assert data["MsgType"] == "event" and data["Event"] == "PUBLISHJOBFINISH", data
        assert data["ToUserName"] == shown["original_id"], (data["ToUserName"], shown)
        assert data["FromUserName"] == query["openid"], (data["FromUserName"], query)
        info = data["PublishEventInfo"]
        assert info["publish_id"] == publish_id, (info, publish_id)
        assert info["publish_status"] == "0", info
        assert info.get("article_id"), info
        detail = info["article_detail"]
        assert detail["count"] == "1", detail
        item = detail["item"]
        assert item["idx"] == "1" and item["article_url"].startswith("http"), item
        # "success" ends it: no second push of the job.
        time.sleep(2)
        assert Receiver.pushes.empty(), "a push after the receiver said success"
    finally:
        server.shutdown()


def main():
    if len(sys.argv) != 7:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    base, appid, secret, _work, bin_path, data_dir = sys.argv[1:]
    token = call("GET", "%s/cgi-bin/token?grant_type=client_credential&appid=%s&secret=%s"
                 % (base, appid, secret))["access_token"]
    for mode in ("plain", "safe", "compatible"):
        check("PUBLISHJOBFINISH %s mode: signed, parsed by wechatpy, sent once" % mode,
              lambda mode=mode: check_mode(base, token, appid, bin_path, data_dir, mode))
    sys.exit(0 if RESULTS else 1)


if __name__ == "__main__":
    main()
