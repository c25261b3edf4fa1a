#!/usr/bin/env bash
# Sets up .venv (first run: a few minutes) and runs the whole test suite; extra args go to pytest.
# Same as `python scripts/roto.py test [PYTEST ARGS]`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "${PYTHON:-python3}" "$root/scripts/roto.py" test "$@"
