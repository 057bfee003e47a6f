#!/usr/bin/env bash
# Installs everything stap-fleet, its tests and its demo need on Debian 12 (run as root).
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: must run as root (it installs Debian packages and creates the stap-server user)" >&2
  exit 4
fi

# apt must never start daemons in the root network namespace (they would multicast from it).
if [ ! -x /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
fi

DEBS=(avahi-daemon avahi-utils dbus iputils-ping iproute2 util-linux procps
      systemtap systemtap-client systemtap-server libnss3-tools openssh-server openssh-client
      pdsh clustershell hyperfine zip unzip openssl linux-headers-amd64 sudo)
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# The compile servers run as stap-server (Debian's package creates neither the user nor the group).
getent group stap-server >/dev/null || groupadd -r stap-server
if ! getent passwd stap-server >/dev/null; then
  useradd -r -g stap-server -m -d /var/lib/stap-server -s /bin/bash stap-server
fi
usermod -p '*' stap-server 2>/dev/null || true
mkdir -p /run/sshd && chmod 755 /run/sshd

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages"
  npm ci --no-audit --no-fund >/dev/null 2>&1 || npm ci --no-audit --no-fund
fi
log "building"
npm run --silent build
