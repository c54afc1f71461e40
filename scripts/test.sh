#!/usr/bin/env bash
# Installs Inkwell (CPU engine unless a CUDA GPU is present), the test-only tools (Debian's
# Chromium for the report check; Continue's `cn` is installed with npm by the tests that use
# it), and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [[ "$(id -u)" == 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi
exec .venv/bin/python -m pytest -q "$@"
