#!/usr/bin/env bash
# GPU benchmark for emoaudit: images/s per built-in model at several batch sizes, end to end and
# bare, plus GPU-vs-CPU probability agreement, in one run of under 5 minutes. Needs no network.
#
# Expects (see docs/gpu.md):
#   - this repository checked out, and a Python (PY, default: python3) where emoaudit is installed
#     together with either onnxruntime-gpu, or torch with CUDA plus onnx2torch
#     (offline: pip install --no-index --find-links WHEELHOUSE -e '.[demo,gpu-torch]');
#   - the zoo's pinned artifacts copied from a machine that fetched them: ~/.cache/emoaudit/artifacts
#     (or EMOAUDIT_HOME/artifacts). Built models (~/.cache/emoaudit/models) may be copied too;
#     otherwise they are built here from the artifacts (conversion needs no network).
#   - nvidia-smi on PATH (only to print the GPU's name).
#
# Knobs (environment): DEVICE=cuda|cpu (cpu: the same Python on the CPU, to test this script
# without a GPU), N (images, 20000), BATCHES (16,64,256,1024), MODELS (all three), CHECK_N (2048),
# CLI_N (faces for the command-line check against the CPU, 2000), REPEATS (bare passes, 3),
# WORKERS_SWEEP (end to end at batch 256 with these worker counts, 1,2,4,8,nproc),
# OUT (folder for gpu.json, default ./gpu-bench), EMOAUDIT_CUDA_RUNTIME=onnxruntime|torch (force a
# path when both are installed). DRY_RUN=1 is DEVICE=cpu with N=64 and two small batch sizes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PY:-python3}"
DEVICE="${DEVICE:-cuda}"
N="${N:-20000}"
BATCHES="${BATCHES:-16,64,256,1024}"
MODELS="${MODELS:-fer-mini-xception,human-emotion,faceapi-expression}"
CHECK_N="${CHECK_N:-2048}"
CLI_N="${CLI_N:-2000}"
REPEATS="${REPEATS:-3}"
WORKERS_SWEEP="${WORKERS_SWEEP:-1,2,4,8,$(nproc)}"
OUT="${OUT:-gpu-bench}"
if [[ "${DRY_RUN:-0}" == "1" || "${1:-}" == "--dry-run" ]]; then
  DEVICE=cpu N=64 BATCHES=16,64 CHECK_N=64 CLI_N=64 REPEATS=1 WORKERS_SWEEP=1,2
fi
export RAY_USAGE_STATS_ENABLED=0 PIP_NO_INDEX=1
mkdir -p "$OUT"
start=$SECONDS

echo "== machine"
if [[ "$DEVICE" == "cuda" ]]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    || { echo "gpu.sh: nvidia-smi failed; is this a CUDA machine?" >&2; exit 1; }
fi
echo "cpus: $(nproc)  python: $("$PY" -c 'import sys; print(sys.version.split()[0])')"
"$PY" - <<'PYEOF'
import importlib.util
import onnxruntime as ort
print("onnxruntime", ort.__version__, ort.get_available_providers())
if importlib.util.find_spec("torch"):
    import torch
    print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
print("onnx2torch installed:", importlib.util.find_spec("onnx2torch") is not None)
PYEOF

echo "== zoo"
"$PY" -m emoaudit models list
IFS=',' read -r -a wanted <<< "$MODELS"
if ! "$PY" - "${wanted[@]}" <<'PYEOF'
import sys
from emoaudit.models import zoo
states = zoo.available()
sys.exit(0 if all(states[name].state == "built" for name in sys.argv[1:]) else 1)
PYEOF
then
  "$PY" -m emoaudit models build
fi

echo "== benchmark (device $DEVICE, $N images, batches $BATCHES)"
"$PY" "$here/gpu_bench.py" --device "$DEVICE" --n "$N" --batches "$BATCHES" \
  --models "$MODELS" --check-n "$CHECK_N" --repeats "$REPEATS" --workers-sweep "$WORKERS_SWEEP" \
  --json "$OUT/gpu.json"
echo "== command line: emoaudit audit --device $DEVICE against --device cpu"
"$PY" "$here/gpu_cli_check.py" --device "$DEVICE" --n "$CLI_N" --json "$OUT/cli-check.json"
echo "== done in $((SECONDS - start)) s; figures in $OUT/gpu.json and $OUT/cli-check.json"
