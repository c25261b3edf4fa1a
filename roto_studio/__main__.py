"""`python -m roto_studio`: the same as the `roto-studio` command (roto_studio.cli)."""

from roto_studio.cli import main

raise SystemExit(main())
