#!/usr/bin/env bash
# The test suite, with everything it needs (real Mosquitto, RTSP server, model, footage).
# Footage and model come from ../shared, or $CAMHUB_SHARED.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --tests
export CAMHUB_TFLITE_PYTHON="$PWD/.venv-tflite/bin/python"
.venv/bin/ruff check agent tests benchmarks scripts
exec .venv/bin/python -m pytest "$@"
