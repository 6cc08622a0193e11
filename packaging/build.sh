#!/bin/sh
# Build the one-folder desktop program dist/cocktail/ (executable dist/cocktail/cocktail) from this
# checkout with PyInstaller. Run from anywhere: sh packaging/build.sh
# Needs the program's own dependencies installed in the current Python (pip install -e .).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    echo "build: installing pyinstaller"
    "$PYTHON" -m pip install "pyinstaller>=6.11"
fi
# The program's dependencies must be importable here (the checkout itself is put on the path).
"$PYTHON" -c "import torch, numpy, scipy, sklearn, soundfile, soxr, sounddevice, pesq, pystoi, \
fast_bss_eval, platformdirs, tqdm, PySide6.QtWidgets, pyqtgraph, app.launcher, separation_core.cli" || {
    echo "build: install the program's dependencies first: pip install -e ." >&2
    exit 1
}

start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$ROOT/dist" --workpath "$ROOT/build" packaging/cocktail.spec
end=$(date +%s)

test -x "$ROOT/dist/cocktail/cocktail" || { echo "build: dist/cocktail/cocktail is missing" >&2; exit 1; }
secs=$((end - start))
echo "build: dist/cocktail/ built in $((secs / 60)) min $((secs % 60)) s"
echo "build: size $(du -sh "$ROOT/dist/cocktail" | cut -f1) (du -sh dist/cocktail)"
