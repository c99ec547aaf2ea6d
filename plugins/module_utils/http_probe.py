# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One small HTTP client for the modules: bounded by a timeout, never raising.

request() returns a Response whose status is None when no HTTP answer came (connection
refused, timeout, TLS failure); error then says why in one line.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import socket
import ssl

from http.client import HTTPConnection, HTTPSConnection
from urllib.error import HTTPError, URLError
from urllib.request import HTTPRedirectHandler, HTTPSHandler, ProxyHandler, Request, build_opener

MAX_BODY = 1024 * 1024


class TLSOptions(object):
    """The tls block of an endpoint: CA (file or PEM), client certificate, the name the
    server's certificate must carry (server_name), or no verification at all."""

    def __init__(self, ca_file=None, cert_file=None, key_file=None, insecure_skip_verify=False, ca_pem=None,
                 server_name=None):
        self.ca_file = ca_file
        self.ca_pem = ca_pem
        self.cert_file = cert_file
        self.key_file = key_file
        self.insecure_skip_verify = insecure_skip_verify
        self.server_name = server_name

    def context(self):
        ctx = ssl.create_default_context(cafile=self.ca_file or None, cadata=self.ca_pem or None)
        if self.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file or None)
        return ctx


class _NamedHTTPSConnection(HTTPSConnection):
    """An HTTPS connection that checks the certificate for server_name, not the URL's host."""

    server_name = None

    def connect(self):
        HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_name)


class _NamedHTTPSHandler(HTTPSHandler):
    def __init__(self, context, server_name):
        HTTPSHandler.__init__(self, context=context)
        self._server_name = server_name

    def https_open(self, req):
        server_name = self._server_name

        class Connection(_NamedHTTPSConnection):
            pass
        Connection.server_name = server_name
        return self.do_open(Connection, req, context=self._context)


class _NoRedirect(HTTPRedirectHandler):
    """A redirect is answered as it is: credentials never follow it to another place."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


def has_credentials(url):
    """Whether url holds user:password@ (never quote such a URL)."""
    return isinstance(url, str) and bool(_USERINFO.search(url))


def shown(url):
    """url as messages may quote it: any user:password@ replaced."""
    return _USERINFO.sub(lambda match: match.group(1) + "***@", url) if isinstance(url, str) else url


def _handlers(url, tls):
    # As Alloy: no proxy from the environment, no redirect followed with the credentials.
    common = [ProxyHandler({}), _NoRedirect()]
    if not url.startswith("https:"):
        return common
    tls = tls or TLSOptions()
    if tls.server_name:
        return common + [_NamedHTTPSHandler(tls.context(), tls.server_name)]
    return common + [HTTPSHandler(context=tls.context())]


def _bad_header(headers):
    """The name of a header whose value holds a line break or control character (such a
    value is refused, and never repeated: it may be a secret)."""
    for name, value in (headers or {}).items():
        if any(ord(c) < 0x20 and c != "\t" or ord(c) == 0x7F for c in str(value)):
            return name
    return None


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


def _reason(err):
    reason = getattr(err, "reason", err)
    if isinstance(reason, socket.timeout) or "timed out" in str(reason):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, ssl.SSLError):
        verify = getattr(reason, "verify_message", None)
        return "TLS error: %s%s" % (getattr(reason, "reason", None) or reason, " (%s)" % verify if verify else "")
    return str(reason)


def request(url, method="GET", timeout=5.0, headers=None, tls=None, max_body=MAX_BODY):
    """Do one request without a body; never raises for network or HTTP errors. max_body
    None reads the whole answer."""
    bad = _bad_header(headers)
    if bad:
        return Response(None, error="%s: the value of header %s holds a line break or control character" % (url, bad))
    try:
        req = Request(url, method=method, headers=headers or {})
        with build_opener(*_handlers(url, tls)).open(req, timeout=timeout) as answer:
            return Response(answer.status, answer.read(max_body).decode("utf-8", "replace"))
    except HTTPError as err:
        return Response(err.code, err.read(MAX_BODY).decode("utf-8", "replace"))
    except (URLError, OSError, ValueError, ssl.SSLError) as err:
        return Response(None, error="%s: %s" % (url, _reason(err)))
