#!/bin/sh
# Train on a lent GPU machine for a few minutes, from the packed audio (scripts/gpu_pack.py), and
# bring the run back through $OUT. Prepared here so that a device stretch goes into training:
#
#   here:   sh scripts/gpu_wheels.sh                     # .whl: what the device's Python lacks
#           mkdir -p work-data/gpu-run && cp runs/RUN/last.pt runs/RUN/*.csv work-data/gpu-run/  # to continue a run
#           python scripts/gpu_pack.py                  # work-data/pack: Opus, in what the call has left
#   device: run(command="sh scripts/gpu_train.sh convtasnet 5 --model-arg n_repeats=2",
#               carry=["work-data/pack", ".whl", "work-data/gpu-run"], timeout_s=600)
#   here:   mkdir -p runs/RUN && cat FILES_AT/run.tar.part* | tar -x -C runs/RUN   (then --resume
#           here, or ship best.pt)
#
# usage: gpu_train.sh MODEL MINUTES [train options...], run from the repository's root; resumes
# work-data/gpu-run/last.pt if present. MINUTES bounds the training loop only: before it the run
# simulates its bank of --rooms (about 0.5 s a room on one core: 2-3 min for 300) and validates the
# untrained model, after it validates again, so give the call about 4 minutes more.
# Environment: DEVICE (cuda), STEPS (200000), WORKERS (12), PYTHON (python3), SKIP_WHEELS (set:
# install no .whl), PART (15728640: bytes per part of the run's tar; $OUT takes files of at most
# 16 MiB, 8 files and 64 MiB in all).
set -eu
MODEL=$1; MINUTES=$2; shift 2
: "${OUT:?names the folder whose files come back}"
PYTHON=${PYTHON:-python3}
PART=${PART:-15728640}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ -n "${SKIP_WHEELS:-}" ] || "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$ROOT PYTHONUNBUFFERED=1
P=work-data/pack
RUN=$(mktemp -d)
RESUME=""
if [ -f work-data/gpu-run/last.pt ]; then cp work-data/gpu-run/* "$RUN"/; RESUME=--resume; fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
speech=""
for d in $P/speech/*/; do speech="$speech --speech $d"; done
status=0
"$PYTHON" -m separation_core.cli train --model "$MODEL" $speech --noise $P/noise --noise-prob 0.5 --snr-range 0,15 \
  --rooms 300 --rir $P/rir/bbc-listening-room --rir $P/rir/seminar-room-clap --reverb-prob 0.5 \
  --speed-range 0.9,1.1 --segment-seconds 4 --batch-size 16 --lr 0.001 --warmup-steps 200 \
  --steps "${STEPS:-200000}" --valid-every 500 --valid-num 40 --precision bf16 --device "${DEVICE:-cuda}" \
  --workers "${WORKERS:-12}" --max-minutes "$MINUTES" --quiet --out "$RUN" $RESUME "$@" >"$RUN/train.log" 2>&1 || status=$?
tail -n 25 "$RUN/train.log"
# The run's results (not its room and validation caches) come back as one tar in parts; what $OUT
# cannot take is left out: best.pt first, since last.pt also holds the weights and resumes.
cd "$RUN"
files=$(ls -d last.pt best.pt train.csv valid.csv config.json train.log 2>/dev/null || true)
parts=$((64 * 1048576 / PART)); [ "$parts" -le 8 ] || parts=8
if [ "$(tar -cf - $files | wc -c)" -gt $((parts * PART)) ]; then
  files=$(echo "$files" | grep -vx best.pt)
  echo "gpu_train.sh: the run is more than \$OUT brings back ($parts parts of $PART bytes): best.pt stays behind" >&2
  if [ "$(tar -cf - $files | wc -c)" -gt $((parts * PART)) ]; then
    echo "gpu_train.sh: last.pt alone is more than that: only train.log comes back" >&2
    files=train.log
    [ "$status" -ne 0 ] || status=1
  fi
fi
tar -cf - $files | split -b "$PART" - "$OUT/run.tar.part"
ls -la "$OUT"
exit "$status"
