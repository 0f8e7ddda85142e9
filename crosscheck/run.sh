#!/usr/bin/env bash
# The independent cross-checks (docs/emulator.md, "Independent cross-checks"): clients and checkers
# nobody on this team wrote, installed from PyPI at the versions in requirements.txt, against the
# built `scimsync emulate` and scimsync's own SCIM client. Run by .ci/run after the cargo tests.
# Any unexpected result, or PyPI out of reach, fails (exit 1): nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
VENV=target/crosscheck-venv
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV" || { echo "crosscheck: FAILED: cannot make a Python venv with $PYTHON"; exit 1; }
fi
if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check -r crosscheck/requirements.txt; then
  echo "crosscheck: FAILED: cannot install crosscheck/requirements.txt from PyPI (is it reachable?)"
  exit 1
fi

cargo build --locked -q -p scimsync
export SCIMSYNC_BIN="$PWD/target/debug/scimsync"

status=0
passed=0
failed=0
for check in aws_scim2_tester entra_azure_sdk generic_scim_server; do
  echo "== crosscheck: $check"
  if (cd crosscheck && "../$VENV/bin/python" "$check.py"); then
    passed=$((passed + 1))
  else
    echo "crosscheck: $check FAILED"
    failed=$((failed + 1))
    status=1
  fi
done
# The closing line counts the cross-checks (each one a suite of its own checks, listed above).
echo "crosscheck: $passed passed, $failed failed"
exit "$status"
