"""Bundle entry for the GUI (PyInstaller runs this script; the installed app uses the
`roto-studio-gui` entry point, which calls the same function)."""

import multiprocessing
import sys

if __name__ == "__main__":
    # A frozen app re-runs this file for every multiprocessing child it starts;
    # freeze_support() turns such a run into the child instead of a second window.
    multiprocessing.freeze_support()
    from roto_studio.ui.app import main

    sys.exit(main())
