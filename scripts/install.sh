#!/usr/bin/env bash
# Installs stap-fleet as a system service on Debian 12 (run as root from a clone or an unpacked package):
# the stap-server user and group, the directories with the right owners, the config samples (never
# overwriting existing files), the systemd units, and the three commands in /usr/local/bin.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
prefix=${PREFIX:-/usr/local}
libdir=${LIBDIR:-$prefix/lib/stap-fleet}
unitdir=${UNITDIR:-/etc/systemd/system}
[ "$(id -u)" = 0 ] || { echo "install.sh: must run as root" >&2; exit 4; }

getent group stap-server >/dev/null || groupadd -r stap-server
getent passwd stap-server >/dev/null || useradd -r -g stap-server -m -d /var/lib/stap-server -s /bin/bash stap-server
usermod -p '*' stap-server 2>/dev/null || true

install -d -m 0755 /etc/stap-server /etc/stap-server/conf.d /etc/sysconfig
install -d -m 0755 -o root -g root /var/run/stap-server
install -d -m 0775 -o root -g stap-server /var/log/stap-server
install -d -m 0750 -o stap-server -g stap-server /var/lib/stap-server
[ -e /etc/sysconfig/stap-server ] || install -m 0644 "$here/packaging/sysconfig/stap-server" /etc/sysconfig/stap-server
[ -e /etc/stap-server/conf.d/native.conf ] || install -m 0644 "$here/packaging/conf.d/native.conf" /etc/stap-server/conf.d/native.conf

# The servers run as stap-server, so the code must live where that user can read it.
if [ "$here" != "$libdir" ]; then
  install -d -m 0755 "$libdir"
  cp -a "$here/dist" "$here/package.json" "$here/packaging" "$libdir/"
  [ -d "$here/node_modules" ] && cp -a "$here/node_modules" "$libdir/"
fi
chmod -R a+rX "$libdir"
for b in stap-server stap-serverd stap-agent stap-fleet; do
  ln -sf "$libdir/dist/bin/$b.js" "$prefix/bin/$b"
  chmod 0755 "$libdir/dist/bin/$b.js"
done
install -d "$unitdir"
for u in "$here"/packaging/systemd/*.service; do install -m 0644 "$u" "$unitdir/"; done
command -v systemctl >/dev/null && [ -d /run/systemd/system ] && systemctl daemon-reload || true
echo "installed: $prefix/bin/{stap-server,stap-serverd,stap-agent,stap-fleet}, units in $unitdir"
