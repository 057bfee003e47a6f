#!/usr/bin/env bash
# Sets up the machine and runs the whole test suite; ends with the line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
# LANs (namespaces, daemons) left behind by a crashed earlier run.
npx tsx test/lan/cleanup.ts >/dev/null 2>&1 || true
rm -f vitest.json
npx vitest run --reporter=default --reporter=json --outputFile=vitest.json "$@"
rc=$?
if [ -f vitest.json ]; then
  node -e "const r=require('./vitest.json');console.log(r.numPassedTests+' passed, '+(r.numFailedTests+(r.numTotalTestSuites&&r.testResults.filter(t=>t.status==='failed'&&t.assertionResults.length===0).length))+' failed')"
else
  echo "0 passed, 1 failed"
fi
exit $rc
