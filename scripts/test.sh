#!/usr/bin/env bash
# The test command: sets up what is missing (see setup.sh), then runs pytest
# headless (EGL; the window tests start their own Xvfb).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
unset DISPLAY
exec .venv/bin/python -m pytest -q "$@"
