"""TEST FIXTURE (Fleet Management stand-in): the collector side of the API as Alloy's remotecfg
service calls it; shared with the Alloy stand-in in lab_wire/collector_client.py."""
from lab_wire.collector_client import SERVICE, USER_AGENT, Client  # noqa: F401
