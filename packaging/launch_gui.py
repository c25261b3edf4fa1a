"""Bundle entry for the GUI (PyInstaller runs this script; the installed app uses the
`roto-studio-gui` entry point, which calls the same function)."""

import multiprocessing
import sys

if __name__ == "__main__":
    # A frozen app re-runs this file for every child process it starts (export workers use a
    # spawn process pool); freeze_support() turns those runs into workers instead of windows.
    multiprocessing.freeze_support()
    from roto_studio.ui.app import main

    sys.exit(main())
