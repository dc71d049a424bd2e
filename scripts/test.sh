#!/usr/bin/env bash
# The whole test suite: unit, integration (real sshd) and e2e (real local machines, engine, HAProxy).
# Installs what it needs first. Prints one closing line: "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
# The project machine's Debian mirror is a dated snapshot: a CLI run with the native bundle resolver
# (LONGSHORE_BUNDLE_RESOLVER=native) must accept an InRelease past its Valid-Until, as apt here does
# (Acquire::Check-Valid-Until "false"). Tests that call the builder pass checkValidUntil: false themselves.
export LONGSHORE_ARCHIVE_CHECK_VALID_UNTIL="${LONGSHORE_ARCHIVE_CHECK_VALID_UNTIL:-false}"
mkdir -p .longshore
report=.longshore/test-report.json
rc=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || rc=$?
if [ -f "$report" ]; then
  node -e '
    const r = require(process.argv[1]);
    const skipped = (r.numPendingTests || 0) + (r.numTodoTests || 0);
    console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
    if (r.numTotalTests === 0) { console.error("no test ran"); process.exit(1); }
  ' "$PWD/$report" || rc=1
fi
exit $rc
