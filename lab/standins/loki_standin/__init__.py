"""TEST FIXTURE: a stand-in for Grafana Loki, used only by the fleet.alloy lab.

Loki cannot be obtained on the lab machines. This server answers the part of its API the
collection touches (shared/docs/alloy-facts.md section 8), as a multi-tenant Loki
(auth_enabled: true) does: POST /loki/api/v1/push (JSON, or snappy-compressed protobuf as
Alloy sends it; 204) and GET /loki/api/v1/query_range (streams matched by exact label
values) need the X-Scope-OrgID header, without it they answer 401 `no org id`; data is
kept per tenant and a query sees only its own tenant's streams. GET /ready needs no
tenant. Lab only: GET /lab/received returns every stream received, with its tenant.
"""
