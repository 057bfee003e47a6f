#!/usr/bin/env bash
# Installs stap-fleet as a system service on Debian 12, from a built clone (scripts/install.sh runs this) or from
# the npm package (<prefix>/lib/node_modules/stap-fleet/packaging/install.sh). Run as root.
#
#   user/group  stap-server (system user, home /var/lib/stap-server, no login shell)
#   code        $LIBDIR (default /usr/local/lib/stap-fleet): dist/, production node_modules/, packaging/, docs/
#   commands    $PREFIX/bin/{stap-server,stap-serverd,stap-agent,stap-fleet} -> $LIBDIR/dist/bin/*.js
#   config      /etc/sysconfig/stap-server and /etc/stap-server/conf.d/native.conf (samples; never overwritten)
#   state       /var/run/stap-server (STAT_PATH, root 0755), /var/log/stap-server (root:stap-server 0775),
#               /var/lib/stap-server (stap-server 0750: HOME, holds the server certificate)
#   units       $UNITDIR/stap-server.service and stap-agent.service (not enabled; see the last lines printed)
#
# Usage: install.sh [--uninstall] [--help]
# Environment: PREFIX (/usr/local), LIBDIR ($PREFIX/lib/stap-fleet), UNITDIR (/etc/systemd/system),
#   STAP_FLEET_INSTALL_NO_SYSTEMCTL=1 skips `systemctl daemon-reload`.
# Exit codes: 0 done, 2 bad usage, 4 not root, 5 nothing to install (dist/ not built, Node.js < 20).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${PREFIX:-/usr/local}
libdir=${LIBDIR:-$prefix/lib/stap-fleet}
bindir=$prefix/bin
unitdir=${UNITDIR:-/etc/systemd/system}
bins=(stap-server stap-serverd stap-agent stap-fleet)
units=(stap-server.service stap-agent.service)

say() { printf 'install.sh: %s\n' "$*"; }
die() { local code=$1; shift; printf 'install.sh: %s\n' "$*" >&2; exit "$code"; }

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }

reload_systemd() {
  if [ -z "${STAP_FLEET_INSTALL_NO_SYSTEMCTL:-}" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl daemon-reload
  fi
}

mode=install
case "${1:-}" in
  '') ;;
  --uninstall) mode=uninstall ;;
  -h|--help) usage; exit 0 ;;
  *) usage >&2; die 2 "unknown argument '$1'" ;;
esac
[ $# -le 1 ] || die 2 "one argument at most"
[ "$(id -u)" = 0 ] || die 4 "must run as root (it creates a system user and writes to /etc, /var and $prefix)"

if [ "$mode" = uninstall ]; then
  # Code, commands and units go; configuration, logs, certificates and the user stay (like dpkg's remove).
  for b in "${bins[@]}"; do
    if [ -L "$bindir/$b" ] && [ "$(readlink "$bindir/$b")" = "$libdir/dist/bin/$b.js" ]; then rm -f "$bindir/$b"; fi
  done
  for u in "${units[@]}"; do rm -f "$unitdir/$u"; done
  rm -rf "$libdir"
  reload_systemd
  say "removed $libdir, the commands in $bindir and the units in $unitdir"
  say "kept: /etc/sysconfig/stap-server, /etc/stap-server, /var/log/stap-server, /var/lib/stap-server, user stap-server"
  exit 0
fi

[ -f "$here/dist/bin/stap-server.js" ] || die 5 "$here/dist is not built: run 'npm run build' (or scripts/setup.sh) first"
command -v node >/dev/null || die 5 "node is not installed (Node.js 20 or later is needed)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || die 5 "Node.js 20 or later is needed, found $(node --version)"
command -v stap >/dev/null || say "warning: SystemTap's stap is not installed (apt-get install systemtap): the servers need it to compile"

# --- user and group ------------------------------------------------------------------------------------------
# The servers run as stap-server and must be in group stap-server (stap-server refuses them otherwise). The
# shell is nologin: SystemTap's own script starts servers with `runuser -s /bin/bash`, ours with setuid, so
# nobody needs to log in as this user.
if ! getent group stap-server >/dev/null; then
  groupadd --system stap-server
  say "created group stap-server"
fi
if ! getent passwd stap-server >/dev/null; then
  useradd --system --gid stap-server --home-dir /var/lib/stap-server --no-create-home \
    --shell /usr/sbin/nologin --comment 'SystemTap compile server' stap-server
  say "created user stap-server"
fi
if ! id -nG stap-server | tr ' ' '\n' | grep -qx stap-server; then
  usermod --append --groups stap-server stap-server
  say "added user stap-server to group stap-server"
fi
home=$(getent passwd stap-server | cut -d: -f6)

# --- directories (install -d also fixes the mode and owner of existing ones) -----------------------------------
install -d -m 0755 -o root -g root /etc/sysconfig /etc/stap-server /etc/stap-server/conf.d
install -d -m 0755 -o root -g root /var/run/stap-server
install -d -m 0775 -o root -g stap-server /var/log/stap-server
install -d -m 0750 -o stap-server -g stap-server "$home"
[ -e /etc/sysconfig/stap-server ] || install -m 0644 -o root -g root "$here/packaging/sysconfig/stap-server" /etc/sysconfig/stap-server
[ -e /etc/stap-server/conf.d/native.conf ] || install -m 0644 -o root -g root "$here/packaging/conf.d/native.conf" /etc/stap-server/conf.d/native.conf

# --- code: copied where user stap-server can read it (a clone under /root is not) ----------------------------
if [ "$here" != "$libdir" ]; then
  new="$libdir.new.$$"
  rm -rf "$new"
  install -d -m 0755 "$new"
  cp -a "$here/dist" "$here/package.json" "$here/packaging" "$new/"
  for extra in docs README.md; do
    if [ -e "$here/$extra" ]; then cp -a "$here/$extra" "$new/"; fi
  done
  if [ -f "$here/package-lock.json" ]; then
    # A clone: only the production dependencies (package-lock.json's entries not marked dev).
    node -e '
      const lock = require(process.argv[1]);
      for (const [path, meta] of Object.entries(lock.packages || {})) {
        const rest = path.slice("node_modules/".length);
        if (path.startsWith("node_modules/") && !rest.includes("node_modules/") && !meta.dev) console.log(path);
      }' "$here/package-lock.json" | while read -r m; do
      if [ -e "$here/$m" ]; then mkdir -p "$new/$(dirname "$m")"; cp -a "$here/$m" "$new/$m"; fi
    done
  elif [ -d "$here/node_modules" ]; then
    cp -a "$here/node_modules" "$new/"  # an npm-installed package holds its production dependencies only
  fi
  chown -R root:root "$new"
  chmod -R u+rwX,go+rX,go-w "$new"
  # Replace the previous install in one rename; running servers keep the code they loaded.
  if [ -e "$libdir" ]; then rm -rf "$libdir.old.$$"; mv "$libdir" "$libdir.old.$$"; fi
  mv "$new" "$libdir"
  rm -rf "$libdir.old.$$"
fi
install -d -m 0755 "$bindir"
for b in "${bins[@]}"; do
  chmod 0755 "$libdir/dist/bin/$b.js"
  ln -sfn "$libdir/dist/bin/$b.js" "$bindir/$b"
done

# --- systemd units, pointing at the commands just installed ---------------------------------------------------
install -d -m 0755 "$unitdir"
for u in "${units[@]}"; do
  sed "s|/usr/bin/env stap-|$bindir/stap-|g; s|/usr/local/lib/stap-fleet|$libdir|g" "$here/packaging/systemd/$u" >"$unitdir/$u.tmp.$$"
  chmod 0644 "$unitdir/$u.tmp.$$"
  mv "$unitdir/$u.tmp.$$" "$unitdir/$u"
done
reload_systemd

say "installed $libdir; commands in $bindir: ${bins[*]}"
say "units in $unitdir: ${units[*]} (enable with: systemctl enable --now stap-agent.service stap-server.service)"
say "configure servers in /etc/stap-server/conf.d/*.conf (sample: native.conf), globals in /etc/sysconfig/stap-server"
