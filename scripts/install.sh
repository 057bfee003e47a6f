#!/usr/bin/env bash
# Installs stap-fleet from this clone as a system service (user, directories, code, commands, systemd units).
# The script itself is packaging/install.sh, so that the npm package carries it too; see its header or --help.
set -euo pipefail
exec bash "$(dirname "$0")/../packaging/install.sh" "$@"
