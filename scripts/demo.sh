#!/usr/bin/env bash
# The main job: set up, then run the service for real inside a network namespace of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/demo/main.js "$@"
