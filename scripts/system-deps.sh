#!/bin/sh
# System libraries Cocktail needs on Debian/Ubuntu: Qt's platform libraries, PortAudio for playback,
# libsndfile, and espeak-ng/sox/xvfb for tests and screenshots. Runs apt-get as root or through sudo.
set -eu
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libxcb-cursor0 \
  libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-xkb1 \
  libportaudio2 libsndfile1 espeak-ng sox xvfb >/dev/null
