"""TEST FIXTURE (Fleet Management stand-in): the collector.v1 messages, now shared with the Alloy
stand-in's remotecfg client in lab_wire/collector_proto.py (the zipapp carries lab_wire only)."""
from lab_wire.collector_proto import (ENUMS, INVALID, SCHEMA, STATUSES, Field, Message, decode, encode,  # noqa: F401
                                      from_json, to_json)
