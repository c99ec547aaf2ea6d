"""TEST FIXTURE: a stand-in for the authenticating HTTPS gateways that sit in front of
Loki and Prometheus in production, used only by the fleet.alloy lab.

One process, TLS only (a certificate for DNS:gateway from the lab's throwaway CA, see
lab_ca.py), three ports, each mimicking one production shape:

- 3100, Loki behind an auth gateway: basic auth, X-Scope-OrgID required and limited to
  the credential's tenants; /loki/api/v1/push, /loki/api/v1/query_range, /ready.
- 9090, Prometheus or Mimir behind an auth gateway: basic auth or a bearer token;
  Prometheus paths (/api/v1/write, /-/ready, /api/v1/query) and Mimir paths
  (/api/v1/push, /ready, /prometheus/api/v1/query) onto the real Prometheus.
- 443, Grafana Cloud: basic auth with a numeric instance ID as user and a token as
  password; metrics at /api/prom/push and /api/prom/api/v1/query (a write-only token may
  push but not query), logs at /loki/api/v1/push and /loki/api/v1/query_range with the
  tenant taken from the user; no /-/ready, no /ready.

The credentials are THROWAWAY LAB CREDENTIALS in lab_credentials.json beside this file
(labtool exports its path as ALLOY_LAB_CREDENTIALS). Every port also answers the lab-only
GET /lab/health (no credentials) so that the lab can tell the gateway is up.
"""
