"""TEST FIXTURE: Grafana Fleet Management's collector API (the server side of Alloy's
`remotecfg` block), used only by the fleet.alloy lab.

The API is grafana/alloy-remote-config's collector.v1.CollectorService (v0.0.12, the version
Alloy pins) served as connect-go serves it (lab_wire/connect.py): Connect unary POSTs to
/collector.v1.CollectorService/{RegisterCollector,GetConfig,UnregisterCollector} in protobuf
(application/proto, what Alloy sends) or protojson (application/json); GetConfig, declared
NO_SIDE_EFFECTS, also answers Connect GETs. An unknown method is net/http's 404 `404 page not
found` (the generated handler's mux; a Connect client reads it as unimplemented), another HTTP
method 405 with Allow, another content type 415 with Accept-Post, a body that does not decode
400 invalid_argument, an answer gzipped when the client accepts gzip (Alloy's does).

Every collector API call needs basic auth, the user a numeric instance ID and the password its
token (Grafana Cloud's shape), else 401 {"code":"unauthenticated",...}; the check comes before
the method is looked up (a gateway in front of the service). Credentials: a JSON file
{"fleet": {"users": {"<instance ID>": "<token>"}}}.

Pipelines: a directory of `<name>.alloy` files (the pipeline's contents), each with a sidecar
`<name>.json` {"matchers": ["env=\\"prod\\"", "role=~\\"web.*\\""], "enabled": true}; names are
identifiers. Matchers are Alertmanager's (matchers.py): all of a pipeline's must hold on the
collector's attributes (its local attributes, then remote ones set through the lab, then the
virtual `collector.ID`; a missing attribute is ""). GetConfig answers the enabled pipelines
that select the collector, in name order, each as a module in one config text:
`declare "<name>" { argument "attributes" { optional = true } <contents> }` followed by
`<name> "default" { attributes = {...} }`, so that `argument.attributes.value["env"]` works
as Fleet Management documents it; `hash` is the SHA-256 of that text, and a request carrying
that hash gets {"notModified": true} and nothing else. GetConfig is also served to a collector that
has not registered (Alloy registers first, while it loads its configuration, then asks for the
config: remotecfg.go; a collector that lost its registration still gets its pipelines).

What is recorded per collector (GET /lab/collectors): id, name, local and remote attributes,
registered (UnregisterCollector turns it false; an unknown or unregistered ID is not_found),
register and GetConfig call counts, first and last contact (wall time), the last
remote_config_status reported (status name, error message; an unset status leaves it as it
was, as the proto says) and every one reported, the effective config Alloy reports, the hash
asked and served, the pipelines served, the user and the User-Agent.

Not confirmed (Fleet Management's server is not public): the exact module wrapping (the
`pipeline_exports` argument of pipeline export injection is not played), the hash's form,
the error messages, the order of the auth check against Connect's checks, not_found for
unregistering an unknown collector, and that a pipeline without matchers selects every
collector. Not played: the pipeline and the rest of the collector management API, gRPC.

Lab only, no credentials: GET /lab/health; GET /lab/collectors, /lab/pipelines, /lab/state;
PUT /lab/pipelines/<name> {"contents": "...", "matchers": [...], "enabled": true} (create or
replace); PATCH /lab/pipelines/<name> (some of those fields, e.g. {"enabled": false});
DELETE /lab/pipelines/<name>; PUT /lab/collectors/<id>/attributes {"attributes": {...}}
(remote attributes); POST /lab/down {"seconds": N} (the collector API answers 503
unavailable for N seconds; with "procedures": ["GetConfig"] only those procedures do, a server
that answers the registration but not the request for pipelines) and POST /lab/up. Runtime changes are kept in memory only.
"""
