"""wechatpy's third-party platform client, unchanged, against a running wximg.

Usage: python wechatpy_component_test.py BASE_URL WXIMG_BIN DATA_DIR COMPONENT_APPID
       COMPONENT_SECRET AUTHORIZER_APPID
Prints "ok - NAME" / "FAIL - NAME: DETAIL" per check and then "N passed, M failed";
exit status 0 only when every check passed.

How wechatpy 1.8 is pointed at wximg (read from its installed source):
- WeChatComponent joins its endpoints onto the attribute API_BASE_URL
  (wechatpy/component.py, `_request` and `fetch_access_token`), set here on the instance;
- it reads the pushed ticket from its session under 'component_verify_ticket', where a
  real deployment's ticket callback stores it; here it is what `wximg component ticket`
  prints;
- WeChatComponentClient is a WeChatClient whose API_BASE_URL is set the same way, and
  whose token comes from the component's api_authorizer_token.
"""

import io
import subprocess
import sys

from PIL import Image
from wechatpy.client import WeChatComponentClient
from wechatpy.component import WeChatComponent
from wechatpy.exceptions import WeChatClientException
from wechatpy_checks import RESULTS, check

base, wximg, data, cappid, csecret, authorizer = sys.argv[1:7]


def cli(*args):
    out = subprocess.run([wximg, *args, "--data", data], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def picture(seed):
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (seed * 40 % 256, 90, 160)).save(buf, format="PNG")
    buf.seek(0)
    buf.name = "component-%d.png" % seed
    return buf


component = WeChatComponent(cappid, csecret, "wximg-token", "a" * 43)
component.API_BASE_URL = base + "/cgi-bin"
component.session.set("component_verify_ticket", cli("component", "ticket", "--component", cappid))
state = {}


def fetch_component_token():
    result = component.fetch_access_token()
    assert result["expires_in"] == 7200, result
    assert component.access_token == result["component_access_token"]


def preauthcode():
    result = component.create_preauthcode()
    assert result["pre_auth_code"] and result["expires_in"] == 600, result


def query_auth():
    code = cli("component", "authorize", "--component", cappid, "--authorizer", authorizer, "--sets", "1,11")
    info = component.query_auth(code)["authorization_info"]
    assert info["authorizer_appid"] == authorizer, info
    ids = [f["funcscope_category"]["id"] for f in info["func_info"]]
    assert ids == [1, 11], ids
    state["access"] = info["authorizer_access_token"]
    state["refresh"] = info["authorizer_refresh_token"]


def client():
    c = WeChatComponentClient(authorizer, component, state["access"], state["refresh"],
                              session=component.session)
    c.API_BASE_URL = base + "/cgi-bin/"
    return c


def upload_with_authorizer_token():
    url = client().media.upload_image(picture(1))
    assert "/mmbiz_png/" in url, url


def refresh_keeps_the_refresh_token():
    result = component.refresh_authorizer_token(authorizer, state["refresh"])
    assert result["authorizer_refresh_token"] == state["refresh"], result
    assert result["authorizer_access_token"] != state["access"], result
    # The client's own refresh path: no cached access token, it asks the component.
    c = client()
    component.session.delete(c.access_token_key)
    url = c.media.upload_image(picture(2))
    assert "/mmbiz_png/" in url, url


def revocation_ends_the_tokens():
    c = client()
    cli("component", "revoke", "--component", cappid, "--authorizer", authorizer)
    try:
        c.media.upload_image(picture(3))
    except WeChatClientException as e:
        # 40001 for the token, then wechatpy's retry asks for a new one: 61003.
        assert e.errcode in (40001, 61003), (e.errcode, e.errmsg)
        return
    raise AssertionError("an upload with a revoked authorization succeeded")


def grant_without_the_set_is_refused():
    code = cli("component", "authorize", "--component", cappid, "--authorizer", authorizer, "--sets", "2,7")
    info = component.query_auth(code)["authorization_info"]
    state["access"], state["refresh"] = info["authorizer_access_token"], info["authorizer_refresh_token"]
    try:
        client().media.upload_image(picture(4))
    except WeChatClientException as e:
        assert e.errcode == 48001, (e.errcode, e.errmsg)
        return
    raise AssertionError("uploadimg accepted a grant without an allowed permission set")


check("component: api_component_token from the pushed ticket", fetch_component_token)
check("component: api_create_preauthcode", preauthcode)
check("component: api_query_auth with the authorization code", query_auth)
check("component: uploadimg with the authorizer_access_token", upload_with_authorizer_token)
check("component: api_authorizer_token keeps the refresh token", refresh_keeps_the_refresh_token)
check("component: revocation ends the authorizer's tokens", revocation_ends_the_tokens)
check("component: a grant without sets 1,8,9,11,18,37,100 gets 48001", grant_without_the_set_is_refused)
passed = sum(RESULTS)
print("%d passed, %d failed" % (passed, len(RESULTS) - passed))
sys.exit(0 if all(RESULTS) else 1)
