"""RemoteTextTracker: SAM 3 video phrase tracking run by the model server.

It has the local tracker's shape (start, add_text, propagate, phrase_of, score_of, close), so
models.text_tracking.run_tracking drives it unchanged and the client writes the project as when
tracking in-process. propagate starts a track_text job with the phrases and streams one binary
message per frame (every instance's mask; phrase and score the first time an instance is seen);
in upload mode frames are sent ahead of the server as for propagation. Closing the stream early
cancels the job.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from roto_studio.client.http import ServerError
from roto_studio.client.remote import RemoteSession, _Uploader
from roto_studio.core import wire


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
        size = (int(s.source.width), int(s.source.height))
        uploader = None
        if s.mode == "upload":
            numbers = list(s.source.frame_numbers)
            order = [f for f in numbers if (f <= start if reverse else f >= start)]
            if stop is not None:
                order = [f for f in order if (f >= stop if reverse else f <= stop)]
            uploader = _Uploader(s, order[::-1] if reverse else order)
        finished = False
        try:
            with client.stream_binary(f"/jobs/{job}/stream") as events:
                for event, blobs in events:
                    if uploader is not None and uploader.error is not None:
                        raise uploader.error
                    if "need" in event:
                        if uploader is not None:
                            uploader.ask(event["need"])
                        continue
                    if "frame" in event:
                        for key, info in event.get("new", {}).items():
                            self._phrases[key] = str(info["phrase"])
                            self._scores[key] = float(info["score"])
                        alphas = {o: wire.alpha_from_blob(meta, blob, size)
                                  for (o, meta), blob in zip(event["masks"].items(), blobs)}
                        if uploader is not None:
                            uploader.advance()
                        yield int(event["frame"]), alphas
                    elif "state" in event:
                        finished = True
                        if event["state"] == "failed":
                            raise ServerError(f"model server: {event.get('error', 'tracking failed')}",
                                              int(event.get("status") or 0), event.get("retry") or ())
                        return
            finished = True
        finally:
            if uploader is not None:
                uploader.stop()
            if not finished:
                try:
                    client.post(f"/jobs/{job}/cancel")
                except ServerError:
                    pass

    def close(self) -> None:
        pass
