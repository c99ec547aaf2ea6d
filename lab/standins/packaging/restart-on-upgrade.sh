# TEST FIXTURE: restart after an upgrade when RESTART_ON_UPGRADE=true (deb postinst with
# a previous version, rpm %postun with $1 >= 1), as the official package does.
RESTART_ON_UPGRADE=true
[ -f "@ENV_FILE@" ] && . "@ENV_FILE@"
if [ "$RESTART_ON_UPGRADE" = "true" ] && [ -d /run/systemd/system ] && systemctl is-active --quiet alloy.service; then
  systemctl restart alloy.service || true
fi
