# TEST FIXTURE: stop the service before the stand-in alloy package is removed.
if [ -d /run/systemd/system ]; then
  systemctl stop alloy.service >/dev/null 2>&1 || true
fi
