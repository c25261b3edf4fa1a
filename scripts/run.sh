#!/usr/bin/env bash
# Sets up .venv (first run: a few minutes) and opens Roto Studio (the sample shot when no file is
# given). Same as `python scripts/roto.py run [FILE]`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "${PYTHON:-python3}" "$root/scripts/roto.py" run "$@"
