#!/bin/sh
# One run of the architecture study (issue 12): all six speech corpora, noise on half the mixtures,
# reverberation on half (300 simulated rooms + two measured rooms; surrey-room-a is kept for testing),
# speed perturbation, 3 s crops, batch 4, cosine schedule over a long plan, 1 thread, bf16.
# usage: scripts/study_run.sh RUN_DIR MODEL [--model-arg K=V ...] [--resume]
set -eu
RUN=$1; MODEL=$2; shift 2
S=${SHARED:-../shared}/data
mkdir -p "$RUN/rooms"
[ -d runs/rooms-cache ] && cp -n runs/rooms-cache/*.npz "$RUN/rooms/" 2>/dev/null || true
exec env OMP_NUM_THREADS=${THREADS:-1} cocktail train --model "$MODEL" \
  --speech $S/speech/librispeech-train-clean-100 --speech $S/speech/speechocean762 \
  --speech $S/speech/commonvoice-en --speech $S/speech/vctk-excerpts \
  --speech $S/speech/cmu-arctic-excerpts --speech $S/speech/fsdd \
  --noise $S/noise --noise-prob 0.5 --snr-range 0,15 \
  --rooms 300 --rir $S/rir/bbc-listening-room --rir $S/rir/seminar-room-clap --reverb-prob 0.5 \
  --speed-range 0.9,1.1 --segment-seconds 3 --batch-size 4 --lr 0.001 --warmup-steps 200 \
  --steps ${STEPS:-200000} --valid-every 250 --valid-num 40 --precision bf16 --quiet \
  --out "$RUN" "$@"
