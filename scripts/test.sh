#!/usr/bin/env bash
# The whole test suite, set-up included: the README's test command and what CI runs.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh test || { echo "setup failed" >&2; exit 1; }
.venv/bin/python -m pytest -n 2 --dist loadfile "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests (exit code 5); treating as success" >&2
  exit 0
fi
exit "$rc"
