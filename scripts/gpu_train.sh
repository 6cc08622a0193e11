#!/bin/sh
# Train on a lent GPU machine for a few minutes, from the packed audio (scripts/gpu_pack.py), and
# bring the run back through $OUT. Prepared here so that a device stretch goes into training:
#
#   here:   python scripts/gpu_pack.py                  # work-data/pack, < 64 MiB of Opus
#           sh scripts/gpu_wheels.sh                     # .whl: what the device's Python lacks
#           mkdir -p work-data/gpu-run && cp runs/RUN/last.pt work-data/gpu-run/  # to continue a run
#   device: run(command="sh scripts/gpu_train.sh convtasnet 7 --model-arg n_repeats=2",
#               carry=["work-data/pack", ".whl", "work-data/gpu-run"], timeout_s=600)
#   here:   cat FILES_AT/last.pt.part* > runs/RUN/last.pt  (then --resume here, or ship best.pt)
#
# usage: gpu_train.sh MODEL MINUTES [train options...]; resumes work-data/gpu-run/last.pt if present.
set -eu
MODEL=$1; MINUTES=$2; shift 2
[ -n "${SKIP_WHEELS:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
P=work-data/pack
RUN=/tmp/run
mkdir -p $RUN
RESUME=""
if [ -f work-data/gpu-run/last.pt ]; then cp work-data/gpu-run/last.pt $RUN/; RESUME=--resume; fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
speech=""
for d in $P/speech/*/; do speech="$speech --speech $d"; done
python3 -m separation_core.cli train --model "$MODEL" $speech --noise $P/noise --noise-prob 0.5 --snr-range 0,15 \
  --rooms 300 --rir $P/rir/bbc-listening-room --rir $P/rir/seminar-room-clap --reverb-prob 0.5 \
  --speed-range 0.9,1.1 --segment-seconds 4 --batch-size 16 --lr 0.001 --warmup-steps 200 \
  --steps ${STEPS:-200000} --valid-every 500 --valid-num 40 --precision bf16 --device ${DEVICE:-cuda} \
  --workers ${WORKERS:-12} --max-minutes "$MINUTES" --quiet --out $RUN $RESUME "$@" 2>&1 | tail -n 25
# $OUT takes files of at most 16 MiB: the resumable last.pt (weights and optimizer) travels in parts
cp $RUN/best.pt $RUN/train.csv $RUN/valid.csv $RUN/config.json "$OUT"/
split -b 15M $RUN/last.pt "$OUT/last.pt.part"
ls -la "$OUT"
