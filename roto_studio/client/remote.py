"""Remote backends: the models.base interfaces answered by the model server.

RemoteBackends looks like models.backends.BackendSet to the Engine (plan, image, video, device,
close), so the engine, the CLI and the window's model thread drive a server exactly as they drive
in-process models, and the client still writes the project. One server session per shot:
- the server reads the shot by path when it can see it (same machine, --media-root /
  --path-map), else this side uploads the frames a request needs (PNG, named by the hash of
  their pixels, sent once: the server caches them);
- image prompts send every click and the previous low-res logits (float32, lossless) and get the
  soft alpha back as 16-bit pixels in a binary answer (raw on loopback, zlib over a network;
  quantised as the mask store does: stored files are identical);
- text prompts (RemoteTextFinder) send the phrases and get each instance's alpha back (16-bit PNG);
- propagation streams one binary message per frame (the same masks); in upload mode a helper thread keeps a few frames
  ahead of the server and answers its requests for a frame it lacks.
"""

from __future__ import annotations

import os
import queue
import threading
from typing import Any, Generator, Iterator, Sequence

import numpy as np

from roto_studio.client.http import ServerClient, ServerError
from roto_studio.core import wire
from roto_studio.core.errors import ModelError, RotoError
from roto_studio.models.backends import BackendPlan
from roto_studio.core.prompt import Prompt
from roto_studio.models.base import Found, ImageSegmenter, Inpainter, Matter, Prediction, TextFinder, VideoPropagator

AHEAD = 6  # frames uploaded ahead of the propagation (upload mode)


def upload(client: ServerClient, image: np.ndarray, digest: str | None = None) -> str:
    """Make sure the server holds this frame; returns its hash."""
    digest = digest or wire.frame_hash(image)
    if digest not in client.known:
        if client.post("/frames/missing", {"hashes": [digest]})["missing"]:
            client.put_bytes(f"/frames/{digest}", wire.frame_png(image))
        client.known.add(digest)
    return digest


class RemoteSession:
    """A server session over one shot (a FrameSource on this side)."""

    def __init__(self, client: ServerClient, source, backend: str = "auto", model: str | None = None,
                 image_size: int | None = None):
        self.client, self.source, self.backend, self.model = client, source, backend, model
        self.image_size = image_size
        self.id: str | None = None
        self.mode = ""
        self.describe = ""
        self.name = backend
        path = getattr(source, "path", None)
        self.path = str(path) if path else None
        self._sent: dict[int, str] = {}
        self._lock = threading.Lock()
        self._opened_colour = None
        self.model_size: int | None = None

    def _colour_key(self):
        view = getattr(self.source, "view", None)
        return view.key() if view is not None else None

    def _default_colour(self) -> bool:
        """True when the shot shows as the server would open it by path (guessed colour space,
        default display / view); otherwise the frames this side sees are uploaded."""
        source = self.source
        view = getattr(source, "view", None)
        if view is None or not hasattr(source, "colour_config"):
            return True
        from roto_studio.core import colour

        guess = colour.guess_colorspace(source.colour_config, source.colour_facts)
        return (source.colour_config.source == "built-in" and source.colorspace == guess.name
                and (view.display, view.view) == source.colour_config.default_display())

    def open(self) -> "RemoteSession":
        if self.id is not None and self._colour_key() != self._opened_colour:
            self.id = None  # the artist chose another colour space or view: a session that sees it
        if self.id is None:
            self._opened_colour = self._colour_key()
            by_path = self.path if self.path and self._default_colour() else None
            media = {"path": os.path.abspath(by_path) if by_path else None,
                     "width": int(self.source.width), "height": int(self.source.height),
                     "frame_numbers": [int(f) for f in self.source.frame_numbers]}
            body: dict[str, Any] = {"backend": self.backend, "model": self.model, "media": media}
            if self.image_size:
                body["image_size"] = int(self.image_size)
            try:
                r = self.client.post("/sessions", body)
            except ServerError as exc:
                if exc.status not in (403, 404, 409) or media["path"] is None:
                    raise
                media["path"] = None  # the server cannot read it: upload the frames
                r = self.client.post("/sessions", body)
            self.id, self.mode, self.describe, self.name = r["session"], r["mode"], r["describe"], r["backend"]
            self.model_size = r.get("image_size")  # SAM 2's input size on the server (None for others)
            self._sent.clear()
        return self

    def url(self, tail: str) -> str:
        return f"/sessions/{self.open().id}{tail}"

    def post(self, tail: str, body=None) -> dict:
        return self._again(lambda: self.client.post(self.url(tail), body))

    def post_binary(self, tail: str, body) -> tuple[dict, list[bytes]]:
        return self._again(lambda: self.client.post_binary(self.url(tail), body))

    def _again(self, call):
        try:
            return call()
        except ServerError as exc:
            if not (exc.status == 410 or (exc.status == 404 and "session" in str(exc))):
                raise
            # the server restarted (404) or closed the session as idle (410): a new session
            # (its state is rebuilt by the caller)
            self.id = None
            return call()

    def ensure(self, frames: Sequence[int], images: dict[int, np.ndarray] | None = None) -> None:
        """Upload mode: register these frames with the session, uploading what the server lacks."""
        if self.open().mode != "upload":
            return
        with self._lock:
            todo = [int(f) for f in frames if int(f) not in self._sent]
        if not todo:
            return
        given = images or {}
        pics = {f: given[f] if given.get(f) is not None else self.source.read(f) for f in todo}
        hashes = {f: wire.frame_hash(pics[f]) for f in todo}
        missing = set(self.post("/frames", {"frames": {str(f): h for f, h in hashes.items()}})["missing"])
        for f, h in hashes.items():
            if h in missing:
                self.client.put_bytes(f"/frames/{h}", wire.frame_png(pics[f]))
                missing.discard(h)
            self.client.known.add(h)
        with self._lock:
            self._sent.update(hashes)

    def close(self) -> None:
        if self.id is not None:
            try:
                self.client.request("DELETE", f"/sessions/{self.id}")
            except ServerError:
                pass
            self.id = None


class RemoteImageSegmenter(ImageSegmenter):
    name = "remote"

    def __init__(self, session: RemoteSession):
        self.session = session
        self._ref: dict | None = None

    def _frame_of(self, key) -> int | None:
        if isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], (int, np.integer)):
            if key[0] == self.session.path or key[0] == str(id(self.session.source)):
                return int(key[1])
        return None

    def set_image(self, image: np.ndarray, key: object = None) -> None:
        frame = self._frame_of(key)
        if frame is not None:
            self.session.ensure([frame], {frame: image})
            self._ref = {"frame": frame}
        else:
            self._ref = {"hash": upload(self.session.client, image)}

    def predict(self, prompt: Prompt, mask_logits=None, multimask: bool | None = None) -> Prediction:
        if self._ref is None:
            raise RuntimeError("set_image must be called before predict")
        body = {**self._ref, **wire.prompt_body(prompt), "masks": self.session.client.mask_codec}
        if mask_logits is not None:
            body["logits"] = wire.encode_array(np.asarray(mask_logits, np.float32))
        if multimask is not None:
            body["multimask"] = bool(multimask)
        r, blobs = self.session.post_binary("/predict", body)
        size = (int(self.session.source.width), int(self.session.source.height))
        alpha = wire.alpha_from_blob(r["alpha"], blobs[0], size if "frame" in self._ref else None)
        logits = wire.decode_array(r["logits"]) if r.get("logits") else None
        return Prediction(alpha, float(r.get("score", 1.0)), logits)

    def prefetch(self, images) -> None:
        pairs = [(f, im) for f, im in ((self._frame_of(k), im) for k, im in images) if f is not None]
        if pairs:
            self.session.ensure([f for f, _ in pairs], dict(pairs))
            self.session.post("/prefetch", {"frames": [f for f, _ in pairs][:64]})


class RemoteTextFinder(TextFinder):
    """Finding objects by name on the server (POST /sessions/ID/find), frame by frame."""

    name = "remote-text"

    def __init__(self, session: RemoteSession, backend: str = "auto"):
        self.session = session
        self.backend = backend
        self.describe = ""
        self._frame: int | None = None

    def set_image(self, image: np.ndarray, key: object = None) -> None:
        s = self.session  # key: the engine's image_key (media path or id, colour view, frame)
        frame = int(key[-1]) if isinstance(key, tuple) and key and isinstance(key[-1], (int, np.integer)) \
            and str(key[0]) in (s.path, str(id(s.source))) else None
        if frame is None:
            raise ModelError("finding objects on the server works on the shot's frames only.")
        self.session.ensure([frame], {frame: image})
        self._frame = frame

    def find(self, phrases, min_score: float = 0.5) -> list[Found]:
        if self._frame is None:
            raise RuntimeError("set_image must be called before find")
        r = self.session.post("/find", {"frame": self._frame, "text": ", ".join(phrases),
                                        "min_score": float(min_score), "backend": self.backend})
        self.describe = r.get("backend", "")
        size = (int(self.session.source.width), int(self.session.source.height))
        found = []
        for f in r["found"]:
            x0, y0, x1, y1 = (float(v) for v in f["box"])
            found.append(Found(f["phrase"], wire.alpha_from_png16(wire.unb64(f["alpha"]["png16"]), size),
                               float(f["score"]), (x0, y0, x1, y1)))
        return found


class _Uploader:
    """Upload mode: sends frames in propagation order, a few ahead, and any the server asks for."""

    def __init__(self, session: RemoteSession, order: list[int]):
        self.session, self.order = session, order
        self.received = 0
        self.urgent: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="roto-frame-upload", daemon=True)
        self._thread.start()

    def ask(self, frame: int) -> None:
        self.urgent.put(int(frame))
        self._wake.set()

    def advance(self) -> None:
        self.received += 1
        self._wake.set()

    def _run(self) -> None:
        i = 0
        try:
            while not self._stop.is_set():
                while not self.urgent.empty():
                    self.session.ensure([self.urgent.get()])
                if i < len(self.order) and i < self.received + AHEAD:
                    self.session.ensure(self.order[i:i + 2])
                    i += 2
                    continue
                self._wake.wait(0.5)
                self._wake.clear()
        except BaseException as exc:  # noqa: BLE001 - surfaced by the propagation
            self.error = exc

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(5.0)


def stream_frames(s: RemoteSession, job: str, start: int, reverse: bool, stop: int | None, what: str,
                  on_frame=None) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """(frame, {object: alpha}) from a server job's binary stream; in upload mode the frames the
    job will read are sent ahead of it. `on_frame(event)` sees each frame's message first.
    Leaving early (an error, a closed generator) cancels the job."""
    client = s.client
    size = (int(s.source.width), int(s.source.height))
    uploader = None
    if s.mode == "upload":
        numbers = list(s.source.frame_numbers)
        lo, hi = (stop if stop is not None else numbers[0], start) if reverse else \
                 (start, stop if stop is not None else numbers[-1])
        order = [f for f in numbers if lo <= f <= hi]
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
                    if on_frame is not None:
                        on_frame(event)
                    alphas = {o: wire.alpha_from_blob(meta, blob, size)
                              for (o, meta), blob in zip(event["masks"].items(), blobs)}
                    if uploader is not None:
                        uploader.advance()
                    yield int(event["frame"]), alphas
                elif "state" in event:
                    finished = True
                    if event["state"] == "failed":
                        raise ServerError(f"model server: {event.get('error', what + ' failed')}",
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


class RemoteVideoPropagator(VideoPropagator):
    name = "remote"

    def __init__(self, session: RemoteSession):
        self.session = session

    def start(self, frames) -> None:
        if frames is not self.session.source:
            raise ServerError("a remote propagator works on the shot its session was opened for.")
        self.session.post("/video/reset")

    def add_prompt(self, frame: int, obj_id: str, prompt: Prompt) -> np.ndarray:
        self.session.ensure([frame])
        body = {"frame": int(frame), "obj_id": str(obj_id), **wire.prompt_body(prompt),
                "masks": self.session.client.mask_codec}
        r, blobs = self.session.post_binary("/video/prompt", body)
        size = (int(self.session.source.width), int(self.session.source.height))
        return wire.alpha_from_blob(r["alpha"], blobs[0], size)

    def propagate(self, start: int, reverse: bool = False,
                  stop: int | None = None) -> Generator[tuple[int, dict[str, np.ndarray]], None, None]:
        s = self.session
        client = s.client
        job = s.post("/propagate", {"start": int(start), "reverse": bool(reverse), "masks": client.mask_codec,
                                    "stop": None if stop is None else int(stop)})["job"]
        yield from stream_frames(s, job, start, reverse, stop, "propagation")

    def remove_object(self, obj_id: str) -> None:
        self.session.post("/video/remove", {"obj_id": str(obj_id)})

    def reset(self) -> None:
        self.session.post("/video/reset")


class RemoteMatter(Matter):
    def __init__(self, client: ServerClient, backend: str = "auto"):
        self.client, self.backend = client, backend
        self.name = f"{backend} (server)"

    def refine(self, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
        digest = upload(self.client, image)
        body = {"backend": self.backend, "image": {"hash": digest}, "trimap": {"png8": wire.b64(wire.gray8_png(trimap))}}
        try:
            r = self.client.post("/matte", body)
        except ServerError as exc:
            if exc.status != 404:
                raise
            self.client.known.discard(digest)  # the server dropped it from its cache: send again
            upload(self.client, image, digest)
            r = self.client.post("/matte", body)
        self.name = f"{r.get('backend', self.backend)} (server)"
        return wire.alpha_from_png16(wire.unb64(r["alpha"]["png16"]), (image.shape[1], image.shape[0]))


class RemoteInpainter(Inpainter):
    """The server's /inpaint: backend, and for a learned fill the model (a registry name), prompt
    and seed (sent only when set, so older servers still answer)."""

    def __init__(self, client: ServerClient, backend: str = "auto", model: str | None = None,
                 prompt: str = "", seed: int = 0):
        import re

        if model and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", str(model)):
            raise RotoError(f"the model server loads inpainting models by registry name (e.g. sd15-inpainting), "
                            f"not a folder ({model}); run without --server to use a local folder.")
        self.client, self.backend = client, backend
        self.extra = {k: v for k, v in (("model", model), ("prompt", prompt), ("seed", int(seed))) if v}
        self.name = f"inpaint {backend} (server)"
        self.consensus = backend == "opencv"  # as the server's OpenCV fill; known after a fill for auto

    def fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        digest = upload(self.client, image)
        body = {"backend": self.backend, **self.extra, "image": {"hash": digest},
                "hole": {"png8": wire.b64(wire.gray8_png(np.asarray(hole, bool)))}}
        try:
            r = self.client.post("/inpaint", body)
        except ServerError as exc:
            if exc.status != 404:
                raise
            self.client.known.discard(digest)
            upload(self.client, image, digest)
            r = self.client.post("/inpaint", body)
        self.consensus = r.get("backend") == "opencv"
        out = wire.frame_from_png(wire.unb64(r["image"]["png"]))
        if out.shape != image.shape:
            raise ServerError("model server: the filled frame has another size.")
        return out


class RemoteBackends:
    """models.base.Backends over one server session: out of memory is the server's 507, and the
    one retry is a new session at a smaller SAM 2 size (taken unasked)."""

    device = None
    reads_own_frames = True
    retries_by_itself: tuple[str, ...] = ("smaller",)

    def __init__(self, client: ServerClient, media, backend: str = "auto", model: str | None = None,
                 image_size: int | None = None):
        self.client = client
        self.session = RemoteSession(client, media, backend, model, image_size).open()
        self.shrunk = False
        self._describe()
        self.image = RemoteImageSegmenter(self.session)
        self.video = RemoteVideoPropagator(self.session)

    def _describe(self) -> None:
        s, client = self.session, self.client
        smaller = f", SAM 2 size {s.model_size} after the server ran out of GPU memory" if self.shrunk else ""
        self.plan = BackendPlan(s.name, f"{s.describe.split(': ', 1)[-1]} [server {client.url}, "
                                f"frames {'by path' if s.mode == 'path' else 'uploaded'}{smaller}]", device="server")

    @property
    def built(self) -> bool:
        return True

    def _smaller_size(self) -> int | None:
        from roto_studio.models.backends import SMALLER_SIZES

        current = self.session.model_size
        if self.session.name != "sam2" or not current:
            return None
        return next((size for size in SMALLER_SIZES if size < int(current)), None)

    def can_shrink(self) -> bool:
        return self._smaller_size() is not None

    def shrink(self) -> bool:
        """A new server session at the next smaller SAM 2 input size (after the server ran out of
        GPU memory); False when there is none. Video prompts must be given again."""
        size = self._smaller_size()
        if size is None:
            return False
        self.session.close()
        self.session.image_size = size
        self.session.open()
        self.shrunk = True
        self._describe()
        return True

    def retry_options(self, where: str) -> tuple[str, ...]:
        return ("smaller",) if self.can_shrink() else ()

    def retried(self, option: str) -> "RemoteBackends":
        if option != "smaller" or not self.shrink():
            raise ModelError(f"the model server cannot retry '{option}'; free GPU memory on the server "
                             "(other jobs, --gpu-memory-budget) and run it again.")
        return self

    def out_of_memory(self, exc: BaseException):
        """The one-line error for a 507 from the server (its GPU is full), with what may be
        retried; None for any other error."""
        from roto_studio.models.device import DeviceOutOfMemory

        if not isinstance(exc, ServerError) or getattr(exc, "status", None) != 507:
            return None

        size = self._smaller_size()
        what = "free GPU memory on the server (other jobs, --gpu-memory-budget) or use a smaller model"
        if size:
            what += f"; the window retries once at SAM 2 size {size} by itself"
        reason = str(exc).removeprefix("model server: ").rstrip(".")
        return DeviceOutOfMemory(f"the model server ran out of GPU memory ({reason}); {what}.", "server",
                                 ("smaller",) if size else ())

    def close(self) -> None:
        self.session.close()


def remote_engine(project, client: ServerClient, backend: str = "auto", model: str | None = None, media=None):
    """An models.engine.Engine whose models run on the server (the project stays here)."""
    from roto_studio.models.engine import Engine

    own = media is None
    media = media if media is not None else project.open_media()
    engine = Engine(project, RemoteBackends(client, media, backend, model), media=media, own_media=own)
    return engine
