#!/usr/bin/env bash
# The main job: install what is missing, then bring up the vLLM engine and the Inkwell RAG
# proxy on a workspace (the demo book unless one is given), and stop both on Ctrl-C.
#
#   ./serve_rag_proxy.sh [--workspace DIR] [--engine-url URL] [--port PORT] [--host HOST]
#
# --engine-url uses a vLLM that is already running instead of starting one.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")" && pwd)"
WORKSPACE=""
ENGINE_URL=""
PORT=""
HOST=""
usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    -w|--workspace) WORKSPACE="$2"; shift 2 ;;
    --engine-url) ENGINE_URL="$2"; shift 2 ;;
    -p|--port) PORT="$2"; shift 2 ;;
    --host) HOST="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "serve_rag_proxy.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

"$ROOT/scripts/install.sh"
INKWELL="$ROOT/.venv/bin/inkwell"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

if [[ -z "$WORKSPACE" ]]; then
  WORKSPACE="$ROOT/demo-workspace"
  [[ -f "$WORKSPACE/inkwell.yaml" ]] || "$INKWELL" init --demo "$WORKSPACE"
fi
WORKSPACE="$(cd "$WORKSPACE" && pwd)"
ARGS=(--workspace "$WORKSPACE")
[[ -n "$ENGINE_URL" ]] && ARGS+=(--engine-url "$ENGINE_URL")
[[ -n "$PORT" ]] && ARGS+=(--port "$PORT")
[[ -n "$HOST" ]] && ARGS+=(--host "$HOST")
# `inkwell up` checks the port, indexes the lore, starts (or reuses) the engine, writes the
# Continue config, serves the proxy until Ctrl-C, then stops what it started.
exec "$INKWELL" up "${ARGS[@]}"
