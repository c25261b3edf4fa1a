"""Rewrite the key table in README.md from the window's action table (roto_studio.ui.actions).

    python scripts/update_readme_keys.py          # rewrite README.md
    python scripts/update_readme_keys.py --check  # exit 1 when README.md is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from roto_studio.ui.actions import shortcuts_markdown  # noqa: E402

HEADER = "| Keys | Action |"


def readme_table(text: str) -> tuple[int, int]:
    """(first, last + 1) line numbers of the key table in README text."""
    lines = text.splitlines()
    start = lines.index(HEADER)
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return start, end


def updated(text: str) -> str:
    lines = text.splitlines()
    start, end = readme_table(text)
    return "\n".join(lines[:start] + shortcuts_markdown().splitlines() + lines[end:]) + "\n"


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    new = updated(text)
    if "--check" in sys.argv[1:]:
        if new != text:
            print("README.md's key table differs from roto_studio/ui/actions.py; "
                  "run python scripts/update_readme_keys.py")
            return 1
        return 0
    readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
