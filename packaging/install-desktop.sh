#!/bin/sh
# Install the built program (dist/cocktail/) for one user, with its desktop entry and icons:
#   PREFIX/lib/cocktail/                          the one-folder build (copied)
#   PREFIX/bin/cocktail                           a link to PREFIX/lib/cocktail/cocktail
#   PREFIX/share/applications/cocktail.desktop
#   PREFIX/share/icons/hicolor/NxN/apps/cocktail.png, scalable/apps/cocktail.svg
# PREFIX defaults to ~/.local (PREFIX/bin must be on PATH: the entry runs `cocktail %f`).
#
#   sh packaging/install-desktop.sh [--uninstall] [PREFIX]
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
UNINSTALL=
if [ "${1:-}" = "--uninstall" ]; then UNINSTALL=1; shift; fi
PREFIX=${1:-$HOME/.local}
SIZES="16 32 48 64 128 256"
ICONS="$PREFIX/share/icons/hicolor"

if [ -n "$UNINSTALL" ]; then
    rm -rf "$PREFIX/lib/cocktail"
    rm -f "$PREFIX/bin/cocktail" "$PREFIX/share/applications/cocktail.desktop" \
        "$ICONS/scalable/apps/cocktail.svg"
    for n in $SIZES; do rm -f "$ICONS/${n}x${n}/apps/cocktail.png"; done
else
    [ -x "$ROOT/dist/cocktail/cocktail" ] || { echo "install: build first: sh packaging/build.sh" >&2; exit 1; }
    mkdir -p "$PREFIX/lib" "$PREFIX/bin" "$PREFIX/share/applications" "$ICONS/scalable/apps"
    rm -rf "$PREFIX/lib/cocktail"
    cp -a "$ROOT/dist/cocktail" "$PREFIX/lib/cocktail"
    ln -sf "$PREFIX/lib/cocktail/cocktail" "$PREFIX/bin/cocktail"
    cp "$HERE/cocktail.desktop" "$PREFIX/share/applications/cocktail.desktop"
    cp "$HERE/icons/cocktail.svg" "$ICONS/scalable/apps/cocktail.svg"
    for n in $SIZES; do
        mkdir -p "$ICONS/${n}x${n}/apps"
        cp "$HERE/icons/cocktail-$n.png" "$ICONS/${n}x${n}/apps/cocktail.png"
    done
fi

# Refresh the menu and icon caches where the tools exist (harmless when they do not).
if command -v update-desktop-database > /dev/null 2>&1; then
    update-desktop-database -q "$PREFIX/share/applications" || true
fi
# Only refresh an icon cache that is already there: a new cache would hide icons that other
# programs later install without refreshing it.
if [ -f "$ICONS/icon-theme.cache" ] && command -v gtk-update-icon-cache > /dev/null 2>&1; then
    gtk-update-icon-cache -q -t "$ICONS" || true
fi
if [ -n "$UNINSTALL" ]; then echo "install: removed Cocktail from $PREFIX"
else echo "install: Cocktail installed in $PREFIX (run: $PREFIX/bin/cocktail)"; fi
