"""TEST FIXTURE (shared by the Fleet Management stand-in's tests and the Alloy stand-in's remotecfg):
the collector side of Fleet Management's API as Alloy's remotecfg service calls it
(internal/service/remotecfg/remotecfg.go, api_client.go; connect-go's client).

Each call is a Connect unary POST of protobuf (`Content-Type: application/proto`, the
generated client's default codec) with `Connect-Protocol-Version: 1`, `Accept-Encoding: gzip`
(the answer is gunzipped here, as connect-go does), Alloy's User-Agent (`Alloy/<version>
(<os>[; <deploy mode>])`, useragent.Get), basic auth or an Authorization header, and extra
headers (remotecfg's http_headers). Errors raise lab_wire.connect's ConnectError, with the code
a connect-go client would see; a request that gets no answer is `unavailable` with net/http's
`Post "<url>": <cause>` as its message. `codec="json"` sends protojson instead (Alloy never
does; the tests use it).
"""
from __future__ import annotations

import base64
import json
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from . import collector_proto as proto
from . import connect, gojson

SERVICE = "/collector.v1.CollectorService/"
USER_AGENT = "Alloy/v1.10.0 (linux; deb)"


def transport_error(url: str, err: BaseException) -> connect.ConnectError:
    """What connect-go reports when the request got no answer: unavailable, net/http's text."""
    reason = getattr(err, "reason", err)
    if isinstance(reason, ssl.SSLCertVerificationError):
        cause = "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    elif isinstance(reason, ConnectionRefusedError):
        host = url.split("://", 1)[-1].split("/", 1)[0]
        cause = f"dial tcp {host}: connect: connection refused"
    elif isinstance(reason, (socket.timeout, TimeoutError)):
        cause = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
    else:
        cause = str(reason)
    return connect.ConnectError("unavailable", f'Post "{url}": {cause}')


@dataclass
class Client:
    url: str  # remotecfg's url, e.g. https://fleet:8080
    username: str = ""
    password: str = ""
    codec: str = "proto"
    user_agent: str = USER_AGENT
    context: Optional[ssl.SSLContext] = None
    timeout: float = 10.0
    authorization: str = ""  # a whole Authorization header value, e.g. "Bearer <token>"
    headers: Dict[str, List[str]] = field(default_factory=dict)

    def _headers(self) -> Dict[str, str]:
        headers = {name: ", ".join(values) for name, values in self.headers.items()}
        headers.update({"Content-Type": f"application/{self.codec}", "Connect-Protocol-Version": "1",
                        "Accept-Encoding": "gzip", "User-Agent": self.user_agent})
        if self.username or self.password:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        elif self.authorization:
            headers["Authorization"] = self.authorization
        return headers

    def call(self, method: str, request_type: str, response_type: str, message: proto.Message) -> proto.Message:
        body = gojson.dumps(proto.to_json(message, request_type)).encode() if self.codec == "json" \
            else proto.encode(message, request_type)
        url = self.url.rstrip("/") + SERVICE + method
        request = urllib.request.Request(url, body, self._headers(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as answer:
                raw = connect.decompress(answer.headers.get("Content-Encoding") or "", answer.read())
        except urllib.error.HTTPError as err:
            raise connect.error_from_response(err.code, err.headers.get("Content-Type") or "", err.read()) from None
        except (urllib.error.URLError, OSError) as err:
            raise transport_error(url, err) from None
        return proto.from_json(json.loads(raw), response_type) if self.codec == "json" \
            else proto.decode(raw, response_type)

    def register(self, collector_id: str, attributes: Dict[str, str], name: str = "") -> proto.Message:
        return self.call("RegisterCollector", "RegisterCollectorRequest", "RegisterCollectorResponse",
                         {"id": collector_id, "local_attributes": attributes, "name": name})

    def get_config(self, collector_id: str, attributes: Dict[str, str], hash_: str = "",
                   status: Optional[int] = None, error_message: str = "",
                   effective: Optional[str] = None) -> proto.Message:
        """GetConfig as Alloy sends it: the status only when it changed (status None: unset), the
        effective config (Alloy's one file, key "", text/plain) only when it changed."""
        message: proto.Message = {"id": collector_id, "local_attributes": attributes, "hash": hash_}
        if status is not None:
            message["remote_config_status"] = {"status": status, "error_message": error_message}
        if effective is not None:
            message["effective_config"] = {"config_map": {"config_map": {
                "": {"body": effective.encode(), "content_type": "text/plain"}}}}
        return self.call("GetConfig", "GetConfigRequest", "GetConfigResponse", message)

    def unregister(self, collector_id: str) -> proto.Message:
        return self.call("UnregisterCollector", "UnregisterCollectorRequest", "UnregisterCollectorResponse",
                         {"id": collector_id})
