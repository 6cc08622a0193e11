#!/bin/sh
# The fixed test sets of issue 12 (held-out test-split speakers, 100 mixtures each), one per
# condition (three-libri: three speakers, for the clustering models asked for K=3), into OUT
# (default runs/sets). Deterministic: the same command writes the same bytes.
set -eu
S=${SHARED:-../shared}/data
OUT=${1:-runs/sets}
LIBRI=$S/speech/librispeech-train-clean-100
OCEAN=$S/speech/speechocean762
mix() { name=$1; shift; [ -f "$OUT/$name/metadata.json" ] || cocktail mix --num 100 --split test --seed 0 --quiet --out "$OUT/$name" "$@"; }
mix clean-libri --speech $LIBRI
mix accented --speech $OCEAN
mix reverb --speech $LIBRI --speech $OCEAN --rooms simulated --rir $S/rir/surrey-room-a --measured-prob 0.5
mix reverb-noisy --speech $LIBRI --speech $OCEAN --rooms simulated --rir $S/rir/surrey-room-a \
    --measured-prob 0.5 --noise $S/noise --snr-range 0,15
mix three-libri --speech $LIBRI --speakers 3
