"""RemoteTextTracker: SAM 3 video phrase tracking run by the model server.

It has the local tracker's shape (start, add_text, propagate, phrase_of, score_of, close), so
Engine.track_steps drives it unchanged and the client writes the project as when tracking
in-process. propagate starts a track_text job with the phrases and streams one binary
message per frame (every instance's mask; phrase and score the first time an instance is seen);
in upload mode frames are sent ahead of the server as for propagation. Closing the stream early
cancels the job.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from roto_studio.client.http import ServerError
from roto_studio.client.remote import RemoteSession, stream_frames


class RemoteTextTracker:
    name = "remote-sam3-video"

    def __init__(self, session: RemoteSession):
        self.session = session
        self._groups: dict[str, str] = {}
        self._phrases: dict[str, str] = {}
        self._scores: dict[str, float] = {}

    def start(self, frames) -> None:
        if frames is not self.session.source:
            raise ServerError("a remote tracker works on the shot its session was opened for.")
        self._groups.clear()
        self._phrases.clear()
        self._scores.clear()

    def add_text(self, group: str, phrase: str) -> None:
        self._groups[group] = " ".join(str(phrase).split())

    def phrase_of(self, key: str) -> str:
        return self._phrases.get(key, self._groups.get(key.split("#")[0], key))

    def score_of(self, key: str) -> float:
        return self._scores.get(key, 0.0)

    def propagate(self, start: int, reverse: bool = False,
                  stop: int | None = None) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        s = self.session
        client = s.client
        job = s.post("/track_text", {"phrases": list(self._groups.values()), "start": int(start),
                                     "reverse": bool(reverse), "stop": None if stop is None else int(stop),
                                     "masks": client.mask_codec})["job"]

        def remember(event) -> None:
            for key, info in event.get("new", {}).items():
                self._phrases[key] = str(info["phrase"])
                self._scores[key] = float(info["score"])

        yield from stream_frames(s, job, start, reverse, stop, "tracking", on_frame=remember)

    def close(self) -> None:
        pass
