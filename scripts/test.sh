#!/usr/bin/env bash
# Installs Inkwell (CPU engine unless a CUDA GPU is present) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
exec .venv/bin/python -m pytest -q "$@"
