# TEST FIXTURE: install script of the lab's stand-in alloy package (deb postinst and rpm
# %post share it; $1 is "configure" for deb, the install count for rpm). It follows the
# official package: user and group, journal groups, directories; never enables or starts.
ALLOY_USER=alloy
ALLOY_GROUP=alloy
[ -f "@ENV_FILE@" ] && . "@ENV_FILE@"
if ! getent group "$ALLOY_GROUP" >/dev/null 2>&1; then
  groupadd -r "$ALLOY_GROUP"
fi
if ! getent passwd "$ALLOY_USER" >/dev/null 2>&1; then
  useradd -m -r -g "$ALLOY_GROUP" -d /var/lib/alloy -s /sbin/nologin -c "alloy user" "$ALLOY_USER"
fi
for group in adm systemd-journal; do
  if getent group "$group" >/dev/null 2>&1; then
    usermod -a -G "$group" "$ALLOY_USER"
  fi
done
mkdir -p /var/lib/alloy/data /etc/alloy
chown "$ALLOY_USER:$ALLOY_GROUP" /var/lib/alloy /var/lib/alloy/data
chmod 0770 /var/lib/alloy /var/lib/alloy/data
chown "root:$ALLOY_GROUP" /etc/alloy
chmod 0770 /etc/alloy
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
