#!/usr/bin/env bash
# The agent end to end: sample footage -> detection -> events on a local Mosquitto,
# printed as they arrive. Stops by itself when the footage ends (~80 s).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python scripts/demo.py "$@"
