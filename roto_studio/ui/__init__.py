"""Qt widgets only."""

import sys


def _guard_pyside_refcount_bug() -> None:
    """PySide6 6.12.0 on Python < 3.12 drops a reference to None (and True/False) on every call of
    a method returning void or bool, so a session crashes after a few thousand calls ("Fatal
    Python error: none_dealloc"). Python 3.12+ makes these objects immortal; on older Pythons we
    give them a reference count that cannot run out. Other PySide6 versions are left alone."""
    if sys.version_info >= (3, 12):
        return
    try:  # PySide6.__version__ is cheap (importlib.metadata costs ~40 ms at start-up)
        import PySide6

        v = PySide6.__version__
    except Exception:  # noqa: BLE001
        return
    if not v.startswith("6.12."):
        return
    import ctypes

    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40


_guard_pyside_refcount_bug()
