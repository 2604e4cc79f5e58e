#!/usr/bin/env bash
# Creates (once) the project's virtual environment in .venv and installs posejax into it.
#   bash scripts/setup_env.sh          # the library and what the main job needs
#   bash scripts/setup_env.sh test     # plus the test extra (pytest, hypothesis, torch, smplx)
# Re-running is cheap: a stamp keyed on setup.cfg skips pip when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.posejax-installed-${extra:-base}"
want="$(sha256sum setup.cfg pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
if [ "$extra" = "test" ]; then
  # The CPU build first and pinned: otherwise smplx's unpinned torch pulls the CUDA build.
  "${pip[@]}" "torch==2.13.0"
  "${pip[@]}" -e ".[test]"
else
  "${pip[@]}" -e .
fi
echo "$want" > "$stamp"
