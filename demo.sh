#!/usr/bin/env bash
# Quick start, one command on a fresh machine: a .venv in this folder (created if missing), the torch build
# for this machine, fkp with its demo and ONNX extras, then the Gradio demo on the shipped models.
#   ./demo.sh                    # http://127.0.0.1:7860
#   ./demo.sh --port 7899        # arguments go to `fkp demo` (./demo.sh --help lists them)
# Tests: bash .ci/run
set -euo pipefail
cd "$(dirname "$0")"
export PIP_DISABLE_PIP_VERSION_CHECK=1
CPU_INDEX="https://download.pytorch.org/whl/cpu"
TORCH="${FKP_TORCH:-torch==2.13.0}"  # the version the tests run with (.ci/run); FKP_TORCH=torch for the newest

say() { printf 'demo.sh: %s\n' "$*" >&2; }

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  say "fkp needs Python 3.10 or newer ($PYTHON is $("$PYTHON" --version 2>&1 || echo missing)); set PYTHON=/path/to/python3"
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate

if python -c 'import torch' 2>/dev/null; then
  say "torch $(python -c 'import torch; print(torch.__version__)') is already installed"
elif command -v nvidia-smi >/dev/null 2>&1 || [ "$(uname -s)" != "Linux" ]; then
  # an NVIDIA GPU (PyPI's Linux wheel is the CUDA build), or macOS / Windows (PyPI's wheel is the right one)
  say "installing $TORCH from PyPI"
  pip install -q "$TORCH"
elif python -c "import urllib.request as u; u.urlopen('$CPU_INDEX/torch/', timeout=15)" 2>/dev/null; then
  say "no NVIDIA GPU (no nvidia-smi): installing the CPU build of $TORCH from $CPU_INDEX"
  pip install -q "$TORCH" --index-url "$CPU_INDEX"
else
  say "no NVIDIA GPU, but $CPU_INDEX cannot be reached: installing $TORCH from PyPI (or a configured mirror)"
  say "instead; where that is the CUDA build (PyPI's Linux x86-64 wheel), it is a few GB instead of about 200 MB"
  pip install -q "$TORCH"
fi

say "installing fkp with its demo and onnx extras"
pip install -q ".[demo,onnx]"
say "starting the demo (Ctrl+C stops it)"
exec fkp demo "$@"
