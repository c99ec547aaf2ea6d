"""TEST FIXTURE (Fleet Management stand-in): the collector side of the API as Alloy's remotecfg
service calls it (internal/service/remotecfg/remotecfg.go, api_client.go; connect-go's client).

Each call is a Connect unary POST of protobuf (`Content-Type: application/proto`, the
generated client's default codec) with `Connect-Protocol-Version: 1`, `Accept-Encoding: gzip`
(the answer is gunzipped here, as connect-go does), Alloy's User-Agent (`Alloy/<version>
(<os>[; <deploy mode>])`, useragent.Get) and basic auth. Errors raise lab_wire.connect's
ConnectError, with the code a connect-go client would see. `codec="json"` sends protojson
instead (Alloy never does; the tests use it).
"""
from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Dict, Optional

from lab_wire import connect, gojson

from . import proto

SERVICE = "/collector.v1.CollectorService/"
USER_AGENT = "Alloy/v1.10.0 (linux; deb)"


@dataclass
class Client:
    url: str  # remotecfg's url, e.g. https://fleet:8080
    username: str = ""
    password: str = ""
    codec: str = "proto"
    user_agent: str = USER_AGENT
    context: Optional[ssl.SSLContext] = None
    timeout: float = 10.0

    def call(self, method: str, request_type: str, response_type: str, message: proto.Message) -> proto.Message:
        body = gojson.dumps(proto.to_json(message, request_type)).encode() if self.codec == "json" \
            else proto.encode(message, request_type)
        headers = {"Content-Type": f"application/{self.codec}", "Connect-Protocol-Version": "1",
                   "Accept-Encoding": "gzip", "User-Agent": self.user_agent}
        if self.username:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        request = urllib.request.Request(self.url.rstrip("/") + SERVICE + method, body, headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as answer:
                raw = connect.decompress(answer.headers.get("Content-Encoding") or "", answer.read())
        except urllib.error.HTTPError as err:
            raise connect.error_from_response(err.code, err.headers.get("Content-Type") or "", err.read()) from None
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
