#!/usr/bin/env bash
# The README's main job, set-up included. Extra arguments go to the experiment script.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python -m experiments.demo "$@"
