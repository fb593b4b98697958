#!/usr/bin/env bash
# The GPU device check (issue 20): on a CUDA machine with no network, import the real records from
# the checkout that bench/gpu_prepare.sh cut, write synthetic FineWeb shards, and replay one real
# task through that machine's own PyTorch for a few steps on one GPU; print each side's step
# times next to the record's official log (bench/gpu_steps.py).
#   bench/gpu_check.sh [TASK=12] [STEPS=20]   (after bench/gpu_prepare.sh; OUT: where logs go;
#                                             TIME_LIMIT: seconds per run, compilation included)
set -euo pipefail
cd "$(dirname "$0")/.."
task=${1:-12}
steps=${2:-20}
prepared=${PREPARED:-build/gpu-check}
out=${OUT:-/tmp/gpu-check-out}
work=$(mktemp -d)
mkdir -p "$out"
export PYTHONUNBUFFERED=1 SPEEDRUN_RECORDS=$work/records.git SPEEDRUN_HOME=$work/runs SPEEDRUN_FINEWEB=$work/fineweb10B
# The image's PyTorch, plus the pins it lacks from the carried wheels; the project from this tree.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$work/site" "$prepared"/wheels/*.whl
export PYTHONPATH=$work/site:$PWD
speedrun() { python3 -c 'from replay.cli.app import main; main()' "$@"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())'
speedrun records init "$SPEEDRUN_RECORDS"
speedrun records import "$prepared/modded-nanogpt.git"
# One GPU accumulates the 8 GPUs' batches: 20 steps of record 12 read ~10M tokens.
speedrun data synthetic --out "$SPEEDRUN_FINEWEB" --train-tokens 33554432
# Trusted records only (no candidate branch): no sandbox needed, and the image has no bubblewrap.
status=0
speedrun replay "$task" --track nanogpt --runs 1 --max-steps "$steps" --nproc 1 --python "$(command -v python3)" \
  --time-limit "${TIME_LIMIT:-200}" --unsandboxed 2>&1 | tee "$out/replay.txt" || status=$?
run=$(ls -d "$SPEEDRUN_HOME"/replay-nanogpt-* | head -1)
cp "$run"/run.json "$out/" 2>/dev/null || true
for log in "$run"/logs/*; do cp "$log" "$out/" 2>/dev/null || true; done
python3 bench/gpu_steps.py "$run" | tee "$out/steps.txt"
exit $status
