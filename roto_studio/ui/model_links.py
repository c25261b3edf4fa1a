"""Messages that send the artist to a terminal, turned towards the model manager: a
`roto-studio models download NAME` command in a message (the models layer words its messages for
the CLI) becomes a link that opens the model manager at NAME, and an environment-variable hint
about offline folders becomes "Use a folder of weights" there. Links are `models:NAME`
(`models:` alone opens the manager); ModelsController.open_link follows them."""

from __future__ import annotations

import html
import re

_COMMAND = re.compile(r"(?:run |download (?:it|them)(?: again)? with |with )?"
                      r"`roto-studio models download ([\w.+\-]+)(?: --force)?`")
_VERIFY = re.compile(r"\(?`roto-studio models verify ([\w.+\-]+)`\)?")
_OFFLINE = re.compile(r"(?:point|set) ROTO_WEIGHTS_OFFLINE at (?:(?:a|the) folder(?: holding them)?|it)")
# CLI-only hints, reworded for the window
_CLI_HINTS = [(re.compile(r" \(or set ROTO_CUTIE_WEIGHTS to [^)]*\)"), ""),
              (re.compile(r"\(or use --backend classical\)"), "(or choose the classical matting backend)"),
              (re.compile(r"or use --backend classical"), "or choose the CPU fallback"),
              (re.compile(r"set ROTO_ALLOW_NONCOMMERCIAL=1 \(or --allow-noncommercial\)"),
               "tick \"Auto may use models whose licence forbids commercial use\" in the model manager")]
_WEIGHTS = re.compile(r"\bweights\b", re.IGNORECASE)


def mentions_models(text: str) -> bool:
    return bool(_COMMAND.search(text) or _OFFLINE.search(text) or "weights are missing" in text
                or "weights not found" in text)


def plain(text: str) -> str:
    """The message as plain text (status bar, logs): commands become what to click."""
    text = _window_words(text)
    text = _COMMAND.sub(lambda m: f"download {m.group(1)} in the model manager (Edit > Models…)", text)
    text = _VERIFY.sub(lambda m: f"(Verify {m.group(1)} in the model manager)", text)
    return _OFFLINE.sub("use a folder of weights in the model manager", text)


def rich(text: str, always: bool = False) -> str:
    """The message as Qt rich text with links to the model manager (`always`: add one even when
    the text names no model, e.g. for an unavailable backend)."""
    text = _window_words(text)
    out, pos, linked = [], 0, False
    for m in _COMMAND.finditer(text):
        out.append(html.escape(text[pos:m.start()], quote=False))
        out.append(f'<a href="models:{html.escape(m.group(1))}">download {html.escape(m.group(1))} '
                   "in the model manager</a>")
        pos, linked = m.end(), True
    out.append(html.escape(text[pos:], quote=False))
    body = _VERIFY.sub(lambda m: f'(<a href="models:{m.group(1)}">Verify {m.group(1)} in the model manager</a>)',
                       "".join(out))
    body = _OFFLINE.sub('<a href="models:">use a folder of weights in the model manager</a>', body)
    if not linked and (always or (_WEIGHTS.search(text) and mentions_models(text))):
        body += ' <a href="models:">Open the model manager</a>'
    return body


def _window_words(text: str) -> str:
    for pattern, words in _CLI_HINTS:
        text = pattern.sub(words, text)
    return text


def link_target(url: str) -> str | None:
    """NAME for `models:NAME`, '' for `models:`, None for any other link."""
    return url[len("models:"):] if url.startswith("models:") else None
