#!/usr/bin/env bash
# Issue 12's GPU checks in one run on a lent GPU machine (no network there): installs the
# wheels carried in .whl (transformers 5.24, platformdirs, regex, bitsandbytes trimmed to its
# CUDA 13 libraries) into /tmp/site, builds a random-weight Llama-3.2-1B-shaped model with the
# SmolLM2 tokenizer saved in .whl/tok, and runs bench/gpu_check.py on it; the log goes to
# $OUT/gpu_log.txt.
#     bash bench/gpu_run.sh [SHAPE=llama1b] [TOKENS=128] [ROUNDS=3]     (PY=python3 by default; SKIP_PIP=1 for a dry run here)
set -o pipefail
SHAPE=${1:-llama1b}
TOKENS=${2:-128}
ROUNDS=${3:-3}
PY=${PY:-python3}
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
[ -n "$SKIP_PIP" ] || "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 WORKBENCH_HOME=/tmp/wbh HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  "$PY" -c 'import sys, torch, transformers, accelerate, importlib.util as u
print("python", sys.version.split()[0], "torch", torch.__version__, "transformers", transformers.__version__, transformers.__file__, "accelerate", accelerate.__version__, "bitsandbytes:", bool(u.find_spec("bitsandbytes")))'
  timeout 390 "$PY" bench/gpu_check.py --build-random "$SHAPE" --tokenizer .whl/tok --out /tmp/wb-random-"$SHAPE" \
    --tokens "$TOKENS" --rounds "$ROUNDS" --dtype "${DTYPE:-auto}" --skip "${SKIP:-}"
  echo "gpu_check exit status $?"
  date -u
} 2>&1 | tee "$OUT/gpu_log.txt"
