#!/bin/sh
# docs/model_manager.png: the real app on a fresh first start (no weights, new settings) under
# Xvfb at 1366x768, where it offers the model manager. Needs xvfb, imagemagick (import), xdotool.
set -e
cd "$(dirname "$0")/.."
home=$(mktemp -d)
Xvfb :77 -screen 0 1366x768x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null; rm -rf "$home"' EXIT
sleep 1
DISPLAY=:77 HOME="$home" XDG_CONFIG_HOME="$home/.config" XDG_DATA_HOME="$home/.local/share" \
  XDG_CACHE_HOME="$home/.cache" ROTO_WEIGHTS_DIR="$home/weights" QT_QPA_PLATFORM=xcb \
  PYTHONPATH="$PWD" "${PYTHON:-python}" -m roto_studio.ui.app &
app=$!
for i in $(seq 60); do
  DISPLAY=:77 xdotool search --name "^Models$" >/dev/null 2>&1 && break
  sleep 1
done
sleep 8  # the sample shot opens and paints
DISPLAY=:77 import -window root "${1:-docs/model_manager.png}"
kill $app
