"""Bundle entry for the headless CLI (`roto-studio-cli export ...`, `info`, ...)."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from roto_studio.cli import main

    sys.exit(main())
