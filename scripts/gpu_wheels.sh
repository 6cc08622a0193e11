#!/bin/sh
# The wheels the device's Python 3.12 lacks (it has torch, numpy, scipy, scikit-learn, tqdm,
# tensorboard): what `cocktail train` imports. Into .whl/ (git-ignored), for `run --carry .whl`.
set -eu
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl soundfile cffi pycparser soxr pyroomacoustics platformdirs
du -sh .whl
