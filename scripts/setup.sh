#!/usr/bin/env bash
# Creates .venv next to this repository and installs Roto Studio with every backend.
# Safe to run again: it only installs what is missing. Set ROTO_VENV to use another folder.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ROTO_VENV:-$root/.venv}"
py="${PYTHON:-python3}"
stamp="$venv/.roto-installed"
want="$(cat "$root/pyproject.toml" "$root/scripts/setup.sh" | sha1sum | cut -c1-12)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
pip() { "$venv/bin/python" -m pip --disable-pip-version-check "$@"; }
pip install -q --upgrade pip setuptools wheel
# 1. torch first: keep a torch the user already has (e.g. their CUDA build).
if ! "$venv/bin/python" -c "import torch, torchvision" 2>/dev/null; then
  pip install "torch==${ROTO_TORCH:-2.14.1}" "torchvision==${ROTO_TORCHVISION:-0.29.1}"
fi
# 2. sam2 builds from source; without isolation it reuses the torch above (CUDA extension optional).
if ! "$venv/bin/python" -c "import sam2" 2>/dev/null; then
  SAM2_BUILD_CUDA="${SAM2_BUILD_CUDA:-0}" pip install --no-build-isolation "sam2==1.1.0"
fi
# 3. the app, every backend and the test tools.
pip install -e "$root[sam2,cutie,matting,inpaint,server,ray,test]"
echo "$want" > "$stamp"
