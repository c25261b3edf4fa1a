#!/usr/bin/env bash
# Sets up .venv (first run: a few minutes) and opens Roto Studio (the sample shot when no file is given).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
venv="${ROTO_VENV:-$root/.venv}"
exec "$venv/bin/roto-studio" "$@"
