#!/usr/bin/env python3
"""Signs a URL path for r2gate's signed_url (native scheme), stdlib only.

Usage: python3 sign.py <path> <kid> <secret> <exp> [<name>=<value> ...]
prints <canonical path>?<canonical query>&sig=<sig>. Values are given
decoded (w=400, "q=a b"). The README's Python snippet is sign_url below.
"""
import base64
import hashlib
import hmac
import sys
import time
import urllib.parse


def _enc(b):
    # Percent-encode every byte but A-Z a-z 0-9 - . _ ~, upper-case hex.
    return urllib.parse.quote(b, safe="")


def sign_url(path, params, kid, secret, exp):
    """Returns path?query with exp, kid and sig; params maps names to values."""
    if not path.startswith("/"):
        path = "/" + path
    cpath = "/".join(_enc(urllib.parse.unquote_to_bytes(s)) for s in path.split("/"))
    q = dict(params, exp=str(int(exp)), kid=kid)
    q.pop("sig", None)
    cquery = "&".join(
        k + "=" + v
        for k, v in sorted((_enc(k.encode()), _enc(str(v).encode())) for k, v in q.items())
    )
    msg = "R2GATE-HMAC-SHA256\n" + cpath + "\n" + cquery
    mac = hmac.new(secret.encode(), msg.encode(), hashlib.sha256).digest()
    sig = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    return cpath + "?" + cquery + "&sig=" + sig


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    path, kid, secret, exp = sys.argv[1:5]
    params = dict(a.split("=", 1) if "=" in a else (a, "") for a in sys.argv[5:])
    # exp is unix seconds, e.g. int(time.time()) + 3600 for one hour.
    print(sign_url(path, params, kid, secret, int(exp) if exp else int(time.time()) + 3600))
