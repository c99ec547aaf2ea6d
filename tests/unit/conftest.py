"""Unit tests of the product, without containers, laid out as ansible-test units expects:
plugins/<kind>/ by the plugin each file tests (modules, module_utils, filter, action,
plugin_utils), roles/ for the roles (rendered and their preflights run on the controller),
playbooks/ for the fleet plays' own tasks (run on localhost), awx/ for the AWX material.
Importable from every test: the collection (as
ansible_collections.fleet.alloy, through the .collections link), the helpers beside this
file (module_main, local_http), the lab's stand-ins (lab/standins: the Alloy stand-in
plays `alloy validate`) and the product tooling (tools, appended last)."""
from __future__ import annotations

import sys
from pathlib import Path

UNIT = Path(__file__).resolve().parent
REPO = UNIT.parents[1]
LINK = REPO / ".collections" / "ansible_collections" / "fleet" / "alloy"
if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    LINK.symlink_to(REPO, target_is_directory=True)
for folder in (REPO / "lab" / "standins", UNIT, REPO / ".collections"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))
