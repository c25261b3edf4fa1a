"""Where the window keeps a remote model server's token: the OS keyring when the `keyring`
package is installed and has a working backend (macOS Keychain, Windows Credential Locker,
Secret Service / KWallet on Linux), else a JSON file {url: token} readable by this user only
(0600, written atomically). Never the plain settings file. No Qt, no torch.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

SERVICE = "roto-studio model server"


def _keyring():
    """The keyring module when it can store secrets here, else None."""
    if os.environ.get("ROTO_NO_KEYRING"):
        return None
    try:
        import keyring
        from keyring.backends import fail
    except Exception:  # noqa: BLE001 - not installed, or broken: the file is used
        return None
    try:
        if isinstance(keyring.get_keyring(), fail.Keyring):
            return None
    except Exception:  # noqa: BLE001
        return None
    return keyring


def default_file() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("roto-studio", appauthor=False)) / "server-tokens.json"


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.chmod(tmp, 0o600)  # also when the file existed with looser permissions
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save(url: str, token: str, path: Path | None = None) -> str:
    """Store (or with an empty token, forget) the token for url; returns where it went."""
    path = Path(path) if path is not None else default_file()
    url = (url or "").strip()
    kr = _keyring()
    if kr is not None:
        try:
            if token:
                kr.set_password(SERVICE, url, token)
            else:
                try:
                    kr.delete_password(SERVICE, url)
                except Exception:  # noqa: BLE001 - nothing stored
                    pass
            data = _read(path)
            if data.pop(url, None) is not None:  # moved into the keyring: no copy left in the file
                _write(path, data)
            return "the OS keyring"
        except Exception as exc:  # noqa: BLE001 - a locked or missing keyring: use the file
            log.warning("the OS keyring cannot store the server token (%s); using %s", exc, path)
    data = _read(path)
    if token:
        data[url] = token
    else:
        data.pop(url, None)
    _write(path, data)
    return str(path)


def load(url: str, path: Path | None = None) -> str:
    """The stored token for url ('' when none)."""
    path = Path(path) if path is not None else default_file()
    url = (url or "").strip()
    kr = _keyring()
    if kr is not None:
        try:
            token = kr.get_password(SERVICE, url)
            if token:
                return token
        except Exception as exc:  # noqa: BLE001
            log.warning("the OS keyring cannot be read (%s); trying %s", exc, path)
    token = _read(path).get(url, "")
    return token if isinstance(token, str) else ""
