#!/bin/sh
# Smoke test of the built program dist/cocktail/cocktail (or $COCKTAIL_EXE): headless separation with
# several kinds of model, evaluation, the model list, a two-step training run, and the window
# (offscreen and under Xvfb, with a screenshot). Synthetic audio only. Exits 1 if any check fails.
#
#   sh packaging/smoke.sh            # after sh packaging/build.sh
#
# Needs python3 with numpy and soundfile (the build environment) to write the test audio and check
# the outputs, and xvfb-run (apt install xvfb) for the X11 check (SMOKE_SKIP_XVFB=1 skips it).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
EXE=${COCKTAIL_EXE:-$ROOT/dist/cocktail/cocktail}
PYTHON=${PYTHON:-python3}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cocktail-smoke.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
# The frozen program must not depend on the checkout or a user's models/settings.
export COCKTAIL_MODELS_DIR="$TMP/user-models" XDG_CONFIG_HOME="$TMP/config" XDG_DATA_HOME="$TMP/data"
unset COCKTAIL_RESOURCES 2>/dev/null || true

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok    $1 ($2 s)"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL  $1: $2"; sed 's/^/      | /' "$TMP/last.log" | tail -n 15; }

# check NAME COMMAND...: runs COMMAND with its output in $TMP/last.log; ok when it exits 0.
check() {
    name=$1; shift
    t0=$(date +%s)
    if "$@" > "$TMP/last.log" 2>&1; then ok "$name" $(( $(date +%s) - t0 )); else fail "$name" "exit status $?"; fi
}

if [ ! -x "$EXE" ]; then echo "smoke: $EXE not found; build it first: sh packaging/build.sh" >&2; exit 1; fi
"$PYTHON" -c "import numpy, soundfile" 2>/dev/null || {
    echo "smoke: $PYTHON needs numpy and soundfile (the build environment) to write and check audio" >&2; exit 1; }

# --- test audio: two "speakers" (harmonic tones with different pitch and syllable rate), their
# mixture at 22.05 kHz (the program resamples to its models' 16 kHz and back), and a tiny corpus
# of six synthetic speakers for the training check.
"$PYTHON" - "$TMP" <<'EOF'
import sys
from pathlib import Path
import numpy as np
import soundfile as sf

tmp = Path(sys.argv[1])
def voice(f0, rate, seconds, sr, phase=0.0):
    t = np.arange(int(round(seconds * sr))) / sr
    f = f0 * (1 + 0.04 * np.sin(2 * np.pi * 2.5 * t + phase))
    ph = 2 * np.pi * np.cumsum(f) / sr
    x = sum(np.sin(k * ph) / k for k in range(1, 6))
    return (x * np.sin(np.pi * rate * t + phase) ** 2).astype(np.float32)
sr = 22050
a, b = 0.2 * voice(180, 3.0, 1.7, sr), 0.2 * voice(420, 2.2, 1.7, sr, 1.0)
sf.write(tmp / "a.wav", a, sr)
sf.write(tmp / "b.wav", b, sr)
sf.write(tmp / "mix.wav", a + b, sr)
(tmp / "speech").mkdir()
for s, f0 in enumerate((110, 140, 170, 210, 250, 300)):
    for u in range(2):
        sf.write(tmp / "speech" / f"{100 + s}-1-{u:04d}.flac", 0.2 * voice(f0, 2 + u, 2.0, 16000, u), 16000)
EOF
[ -f "$TMP/mix.wav" ] || { echo "smoke: could not write the test audio" >&2; exit 1; }

# stems_ok DIR N: DIR holds exactly N stems mix_s1.wav.. with the mixture's rate and length, and mix.json
stems_ok() {
    "$PYTHON" - "$TMP/mix.wav" "$1" "$2" <<'EOF'
import sys, json
from pathlib import Path
import numpy as np
import soundfile as sf
mix, out, n = sf.info(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
stems = sorted(out.glob("mix_s*.wav"))
assert len(stems) == n, f"{len(stems)} stems in {out}, expected {n}"
for p in stems:
    info = sf.info(p)
    assert (info.frames, info.samplerate) == (mix.frames, mix.samplerate), \
        f"{p.name}: {info.frames} frames at {info.samplerate} Hz, mixture {mix.frames} at {mix.samplerate}"
    x, _ = sf.read(p)
    assert np.isfinite(x).all() and np.abs(x).max() > 0, f"{p.name}: silent or not finite"
json.loads((out / "mix.json").read_text())
print(f"{n} stems of {mix.frames} frames at {mix.samplerate} Hz")
EOF
}

# separate_ok NAME N ARGS...: `cocktail separate` then the stems check
separate_ok() {
    name=$1; n=$2; shift 2
    t0=$(date +%s)
    if "$EXE" separate "$TMP/mix.wav" --out "$TMP/out-$name" --quiet "$@" > "$TMP/last.log" 2>&1 \
        && stems_ok "$TMP/out-$name" "$n" >> "$TMP/last.log" 2>&1; then
        ok "separate --model $name: $(tail -n 1 "$TMP/last.log")" $(( $(date +%s) - t0 ))
    else
        fail "separate --model $name" "see the log"
    fi
}

echo "smoke: testing $EXE"
check "cocktail --version" "$EXE" --version
separate_ok denoise-wiener 2 --model denoise-wiener
separate_ok oracle-irm 2 --model oracle-irm --refs "$TMP/a.wav" "$TMP/b.wav"
separate_ok convtasnet 2 --model convtasnet        # torch Conv1d time-domain net (untrained)
separate_ok dc-blstm 2 --model dc-blstm --clustering kmeans   # BLSTM + scikit-learn k-means
if [ -f "$ROOT/dist/cocktail/_internal/resources/models/DEFAULT" ]; then
    separate_ok default 2                          # the bundled default checkpoint
fi

t0=$(date +%s)
if "$EXE" evaluate --mixture "$TMP/mix.wav" --refs "$TMP/a.wav" "$TMP/b.wav" \
        --estimates "$TMP/out-oracle-irm/mix_s1.wav" "$TMP/out-oracle-irm/mix_s2.wav" --json \
        > "$TMP/eval.json" 2> "$TMP/last.log" \
    && "$PYTHON" - "$TMP/eval.json" >> "$TMP/last.log" 2>&1 <<'EOF'
import json, math, sys
mean = json.load(open(sys.argv[1]))["mean"]
assert all(k in mean for k in ("si_sdr", "sdr", "pesq", "stoi")), sorted(mean)
assert math.isfinite(mean["si_sdr"]) and mean["si_sdr"] > 5, mean
print(f"oracle IRM SI-SDR {mean['si_sdr']:.1f} dB")
EOF
then ok "evaluate (SI-SDR, BSS Eval SDR, PESQ, STOI): $(tail -n 1 "$TMP/last.log")" $(( $(date +%s) - t0 ))
else fail "evaluate" "see the log"; cat "$TMP/eval.json" >> "$TMP/last.log" 2>/dev/null; fi

t0=$(date +%s)
if "$EXE" models > "$TMP/last.log" 2>&1 && grep -q "denoise-wiener" "$TMP/last.log" \
    && grep -q "oracle-irm" "$TMP/last.log" && grep -q "convtasnet" "$TMP/last.log"; then
    ok "models: $(grep -c "builtin\|bundled" "$TMP/last.log") models listed" $(( $(date +%s) - t0 ))
else fail "models" "registry models missing from the list"; fi

t0=$(date +%s)
if "$EXE" train --model ff-mask --speech "$TMP/speech" --out "$TMP/run" --steps 2 --batch-size 2 \
        --segment-seconds 1 --valid-num 2 --valid-every 2 --quiet > "$TMP/last.log" 2>&1 \
    && [ -s "$TMP/run/best.pt" ] && [ -s "$TMP/run/last.pt" ]; then
    ok "train --model ff-mask --steps 2 (best.pt, last.pt)" $(( $(date +%s) - t0 ))
else fail "train" "no checkpoints"; fi

# png_ok FILE: a PNG of at least 640x400 that is not one flat colour (checked by size on disk)
png_ok() {
    "$PYTHON" - "$1" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", data[16:24])
assert w >= 640 and h >= 400, f"{w}x{h}"
assert len(data) > 20000, f"only {len(data)} bytes: an empty window?"
print(f"{w}x{h}, {len(data) // 1024} KiB")
EOF
}

# window_ok NAME PREFIX...: the scripted window (open, run a model, listen view, screenshot)
window_ok() {
    name=$1; shift
    shot="$TMP/shot-$name.png"
    t0=$(date +%s)
    if "$@" "$EXE" "$TMP/mix.wav" --run denoise-wiener --view listen --screenshot "$shot" \
            > "$TMP/last.log" 2>&1 && png_ok "$shot" >> "$TMP/last.log" 2>&1; then
        ok "window ($name): screenshot $(tail -n 1 "$TMP/last.log")" $(( $(date +%s) - t0 ))
        [ -n "${SMOKE_KEEP:-}" ] && cp "$shot" "$SMOKE_KEEP/" 2>/dev/null
    else
        fail "window ($name)" "see the log"
    fi
}

window_ok offscreen env QT_QPA_PLATFORM=offscreen
if [ -n "${SMOKE_SKIP_XVFB:-}" ]; then
    echo "skip  window (xcb under Xvfb): SMOKE_SKIP_XVFB is set"
elif command -v xvfb-run > /dev/null 2>&1; then
    window_ok xcb env -u QT_QPA_PLATFORM xvfb-run -a -s "-screen 0 1280x800x24"
else
    : > "$TMP/last.log"
    fail "window (xcb under Xvfb)" "xvfb-run is not installed (apt install xvfb; or SMOKE_SKIP_XVFB=1)"
fi

echo "smoke: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
