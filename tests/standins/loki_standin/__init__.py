"""TEST FIXTURE: a stand-in for Grafana Loki, used only by the fleet.alloy lab.

Loki cannot be obtained on the lab machines. This server answers the part of its API the
collection touches (shared/docs/alloy-facts.md section 8): GET /ready, POST
/loki/api/v1/push (JSON, or snappy-compressed protobuf as Alloy sends it; 204), and a
small GET /loki/api/v1/query_range that matches streams by exact label values. It keeps
what it received in memory; GET /lab/received returns it all for tests.
"""
