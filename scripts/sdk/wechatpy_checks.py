"""The check harness of the wechatpy scripts (wechatpy_test.py, wechatpy_component_test.py).

`check(name, fn)` runs one check and prints `ok - NAME` or `FAIL - NAME: why`; when
wechatpy raised, the why carries the platform's errcode and errmsg, and the traceback goes
to stderr. Every outcome is kept in `RESULTS` for the script's summary and exit status.
"""

import sys
import traceback

from wechatpy.exceptions import WeChatClientException

RESULTS = []


def check(name, fn):
    try:
        fn()
    except AssertionError as e:
        print("FAIL - %s: %s" % (name, e), flush=True)
        RESULTS.append(False)
        return
    except Exception as e:  # noqa: BLE001 - report anything the library raised
        detail = "%s: %s" % (type(e).__name__, e)
        if isinstance(e, WeChatClientException):
            detail += " (errcode=%r errmsg=%r)" % (e.errcode, e.errmsg)
        print("FAIL - %s: %s" % (name, detail), flush=True)
        traceback.print_exc(file=sys.stderr)
        RESULTS.append(False)
        return
    print("ok - %s" % name, flush=True)
    RESULTS.append(True)
