#!/usr/bin/env bash
# The README's first command: installs what is needed (scripts/setup.sh), then runs the guided tour of a whole
# fleet on simulated hosts of this machine (demo/main.ts). Run as root on Debian 12. Exit 0 when every step passed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npx tsx demo/main.ts "$@"
