"""EMULATED EL lab host (fleet.alloy tests): write os-release files that say Rocky Linux."""
import sys
from pathlib import Path

el_id, name, version = sys.argv[1:4]
major = version.split(".")[0]
text = (
    f'NAME="{name}"\nVERSION="{version} (emulated)"\nID="{el_id}"\n'
    f'ID_LIKE="rhel centos fedora"\nVERSION_ID="{version}"\nPLATFORM_ID="platform:el{major}"\n'
    f'PRETTY_NAME="{name} {version} (fleet.alloy lab: EMULATED on Debian)"\n'
    f'ANSI_COLOR="0;32"\nHOME_URL="https://rockylinux.org/"\n'
)
Path("/usr/lib/os-release").write_text(text)
etc = Path("/etc/os-release")
if etc.is_symlink() or etc.exists():
    etc.unlink()
etc.write_text(text)
Path("/etc/redhat-release").write_text(f"{name} release {version} (emulated)\n")
Path("/etc/system-release").write_text(f"{name} release {version} (emulated)\n")
