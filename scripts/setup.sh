#!/usr/bin/env bash
# Creates .venv (or $ROTO_VENV) and installs Roto Studio with every backend: see scripts/roto.py,
# which does the work on every platform. Safe to run again (instant when up to date).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "${PYTHON:-python3}" "$root/scripts/roto.py" setup "$@"
