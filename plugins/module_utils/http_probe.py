# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One small HTTP client for the modules: bounded by a timeout, never raising.

request() returns a Response whose status is None when no HTTP answer came (connection
refused, timeout, TLS failure); error then says why in one line.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import socket
import ssl

from urllib.error import HTTPError, URLError
from urllib.request import HTTPSHandler, Request, build_opener

MAX_BODY = 1024 * 1024


class TLSOptions(object):
    def __init__(self, ca_file=None, cert_file=None, key_file=None, insecure_skip_verify=False):
        self.ca_file = ca_file
        self.cert_file = cert_file
        self.key_file = key_file
        self.insecure_skip_verify = insecure_skip_verify

    def context(self):
        ctx = ssl.create_default_context(cafile=self.ca_file or None)
        if self.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file or None)
        return ctx


class Response(object):
    def __init__(self, status=None, body="", error=""):
        self.status = status
        self.body = body
        self.error = error

    def describe(self):
        """A one-line account: 'HTTP 503: Alloy is not ready.' or the transport error."""
        if self.status is None:
            return self.error
        text = " ".join(self.body.split())
        return "HTTP %d%s" % (self.status, (": " + text[:300]) if text else "")


def auth_headers(username=None, password=None, bearer_token=None, tenant_id=None):
    headers = {}
    if bearer_token:
        headers["Authorization"] = "Bearer %s" % bearer_token
    elif username:
        token = base64.b64encode(("%s:%s" % (username, password or "")).encode("utf-8"))
        headers["Authorization"] = "Basic %s" % token.decode("ascii")
    if tenant_id:
        headers["X-Scope-OrgID"] = tenant_id
    return headers


def _reason(err):
    reason = getattr(err, "reason", err)
    if isinstance(reason, socket.timeout) or "timed out" in str(reason):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, ssl.SSLError):
        return "TLS error: %s" % (getattr(reason, "reason", None) or reason)
    return str(reason)


def request(url, method="GET", timeout=5.0, headers=None, tls=None):
    """Do one request without a body; never raises for network or HTTP errors."""
    req = Request(url, method=method, headers=headers or {})
    handlers = [HTTPSHandler(context=(tls or TLSOptions()).context())] if url.startswith("https:") else []
    try:
        with build_opener(*handlers).open(req, timeout=timeout) as answer:
            return Response(answer.status, answer.read(MAX_BODY).decode("utf-8", "replace"))
    except HTTPError as err:
        return Response(err.code, err.read(MAX_BODY).decode("utf-8", "replace"))
    except (URLError, OSError, ValueError) as err:
        return Response(None, error="%s: %s" % (url, _reason(err)))
