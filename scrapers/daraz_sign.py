"""Request signing of the Lazada/Daraz Open Platform (the documented algorithm).

1. Take every request parameter except ``sign`` (system ones: ``app_key``, ``timestamp``,
   ``sign_method``, ``access_token``; and the API's own), sort them by name (ASCII order).
2. Concatenate ``name + value`` of each, with nothing in between, and prefix the API path
   (``/orders/get``).
3. HMAC-SHA256 that UTF-8 string with the app secret as key; the signature is the digest in
   upper-case hex, sent as ``sign`` (with ``sign_method=sha256``).
"""
import hashlib
import hmac
from typing import Mapping

SIGN_METHOD = "sha256"


def sign_string(api_path: str, params: Mapping[str, object]) -> str:
    """The string that is signed: the API path then sorted ``name+value`` pairs."""
    return api_path + "".join(f"{name}{params[name]}" for name in sorted(params)
                              if name != "sign")


def sign(api_path: str, params: Mapping[str, object], app_secret: str) -> str:
    """The ``sign`` parameter for a request.

    Args:
        api_path: The API name as a path, e.g. ``/orders/get``.
        params: Every parameter of the request (``sign`` itself is ignored).
        app_secret: The app's secret.

    Returns:
        Upper-case hex HMAC-SHA256.
    """
    if not app_secret:
        raise ValueError("the Daraz app secret is required to sign requests")
    return hmac.new(app_secret.encode("utf-8"), sign_string(api_path, params).encode("utf-8"),
                    hashlib.sha256).hexdigest().upper()


def verify(api_path: str, params: Mapping[str, object], app_secret: str) -> bool:
    """Whether ``params['sign']`` is the right signature (constant-time comparison)."""
    given = str(params.get("sign", ""))
    return hmac.compare_digest(given.upper(), sign(api_path, params, app_secret))
