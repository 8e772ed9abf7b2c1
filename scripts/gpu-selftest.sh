#!/usr/bin/env bash
# Runs the real PyTorch prover (src/capacity/gpu_prover.py) on this machine's first NVIDIA
# GPU, at the full size the checkers use for its class, and prints the measured times next to the
# timing model and the class margins of docs/verification.md ("Class margins"): the share of the
# part's dense INT8 peak the stock prover reached against the share its class's deadline assumes
# (a WARNING when it is under: honest parts of the class would fail), and the throughput margin
# against every class below.
#
#   scripts/gpu-selftest.sh [--json] [--python PYTHON] [--device cpu]
#
# Exits 2 with a message when there is no NVIDIA GPU (or no PyTorch that sees it), 1 when the
# check fails, 0 when it passes. --device cpu runs the same phases on the CPU at a tiny size (for
# testing this script without a GPU; its times say nothing about one).
set -euo pipefail
cd "$(dirname "$0")/.."

python=python3
json=()
device=cuda
while [ $# -gt 0 ]; do
  case "$1" in
    --json) json=(--json) ;;
    --python) python="${2:?--python needs a command}"; shift ;;
    --device) device="${2:?--device needs cuda or cpu}"; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-selftest: unknown option $1 (see --help)" >&2; exit 64 ;;
  esac
  shift
done

if [ "$device" = cpu ]; then
  if ! "$python" -c 'import torch' 2>/dev/null; then
    echo "gpu-selftest: --device cpu needs a PyTorch that $python imports" >&2
    exit 2
  fi
  exec node --import tsx scripts/gpu-selftest.ts --model "NVIDIA H100 80GB HBM3" --memory-mib 81559 --python "$python" --device cpu "${json[@]}"
fi
if [ "$device" != cuda ]; then
  echo "gpu-selftest: --device must be cuda or cpu, not $device" >&2
  exit 64
fi
if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "gpu-selftest: no NVIDIA GPU here: nvidia-smi is not on PATH. Nothing to measure; run this on a machine with an NVIDIA GPU and its driver." >&2
  exit 2
fi
if ! gpus=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits 2>&1) || [ -z "$gpus" ]; then
  echo "gpu-selftest: no NVIDIA GPU here: nvidia-smi lists none (${gpus:-no output}). Nothing to measure." >&2
  exit 2
fi
first=$(printf '%s\n' "$gpus" | head -n 1)
model=$(printf '%s' "${first%,*}" | sed 's/^ *//; s/ *$//')
memory=$(printf '%s' "${first##*,}" | tr -d ' ')
case "$memory" in
  ''|*[!0-9]*) echo "gpu-selftest: cannot read the memory of \"$model\" from nvidia-smi (got \"$memory\")" >&2; exit 2 ;;
esac
if ! "$python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)' 2>/dev/null; then
  echo "gpu-selftest: found $model ($memory MiB), but $python has no PyTorch that sees a CUDA device; install PyTorch with CUDA support (or pass --python)." >&2
  exit 2
fi
# a GPU its driver cannot name ("Graphics Device") is named from its PCI device ID, as the probe does
pci=$(nvidia-smi --query-gpu=pci.device_id --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' ' || true)
exec node --import tsx scripts/gpu-selftest.ts --model "$model" --memory-mib "$memory" --pci-device-id "$pci" --python "$python" "${json[@]}"
