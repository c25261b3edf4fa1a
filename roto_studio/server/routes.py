"""The /v1 endpoints: sessions (image prompts, video prompts, propagation jobs), frames, matting,
inpainting, jobs and the weights registry. Request shapes are pydantic models (they make the
OpenAPI schema and refuse bad input with 422 before any work); the model work itself runs in the
model thread (state.models)."""

from __future__ import annotations

import json
import re
import threading
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Path, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from roto_studio.core import wire
from roto_studio.core.errors import ModelError
from roto_studio.core.prompt import Prompt
from roto_studio.server.frames import NotFound, UploadedFrames
from roto_studio.server.state import Conflict, ServerState, public_message

API = "/v1"
MAX_POINTS = 1000
CANCEL_WAIT_S = 30.0  # a cancel answers once the job stopped (one frame), or after this
Frame = Annotated[int, Field(ge=-10**9, le=10**9)]
Coord = Annotated[float, Field(ge=-1e6, le=1e6)]
Hash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
Id16 = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class MaskData(Strict):
    png16: str | None = None
    f32z: str | None = None
    shape: list[int] | None = Field(default=None, max_length=4)


class Gray8(Strict):
    png8: str


class MediaInfo(Strict):
    path: str | None = Field(default=None, max_length=4096)
    width: int = Field(ge=1, le=wire.MAX_SIDE)
    height: int = Field(ge=1, le=wire.MAX_SIDE)
    frame_numbers: list[Frame] = Field(min_length=1, max_length=1_000_000)


class SessionCreate(Strict):
    backend: Ident = "auto"  # one of models.backends.NAMES (an unknown one is answered 400)
    model: Ident | None = None
    image_size: int | None = Field(default=None, ge=64, le=2048, multiple_of=16)  # SAM 2 input size
    media: MediaInfo


class FramesRegister(Strict):
    frames: dict[Frame, Hash] = Field(max_length=10_000)


class HashList(Strict):
    hashes: list[Hash] = Field(max_length=10_000)


class PromptBody(Strict):
    points: list[tuple[Coord, Coord]] = Field(default_factory=list, max_length=MAX_POINTS)
    labels: list[Literal[0, 1]] = Field(default_factory=list, max_length=MAX_POINTS)
    box: tuple[Coord, Coord, Coord, Coord] | None = None
    mask: MaskData | None = None


MaskCodec = Literal["png16", "u16", "u16z"]  # png16: JSON answers; u16 / u16z: binary (core.wire.pack)


class PredictRequest(PromptBody):
    masks: MaskCodec = "png16"
    frame: Frame | None = None
    hash: Hash | None = None
    logits: MaskData | None = None
    multimask: bool | None = None


class Prefetch(Strict):
    frames: list[Frame] = Field(default_factory=list, max_length=64)


class VideoPrompt(PromptBody):
    masks: MaskCodec = "png16"
    frame: Frame
    obj_id: Ident


class FindRequest(Strict):
    frame: Frame
    text: str = Field(min_length=1, max_length=2000)
    min_score: float = Field(default=0.5, ge=0.0, le=1.0)
    backend: Literal["auto", "sam3", "grounding-dino"] = "auto"


class ObjectRef(Strict):
    obj_id: Ident


class PropagateRequest(Strict):
    masks: MaskCodec = "png16"
    start: Frame
    reverse: bool = False
    stop: Frame | None = None


class TrackTextRequest(Strict):
    masks: MaskCodec = "png16"
    phrases: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = \
        Field(min_length=1, max_length=16)
    start: Frame
    reverse: bool = False
    stop: Frame | None = None


class FrameRef(Strict):
    hash: Hash | None = None
    session: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")] | None = None
    frame: Frame | None = None


class MatteRequest(Strict):
    backend: Literal["auto", "vitmatte", "classical"] = "auto"
    image: FrameRef
    trimap: Gray8


class InpaintRequest(Strict):
    backend: Literal["auto", "diffusers", "opencv"] = "auto"
    # a registry name (sd15-inpainting...) or a folder inside --model-root; None: the first installed
    model: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
    prompt: Annotated[str, StringConstraints(max_length=1000)] = ""  # empty: "clean background"
    seed: Annotated[int, Field(ge=-2**63, le=2**64 - 1)] = 0  # torch.Generator.manual_seed range
    image: FrameRef
    hole: Gray8


class DownloadRequest(Strict):
    force: bool = False


def _prompt(body: PromptBody, size: tuple[int, int], logits: bool = False) -> Prompt:
    mask = body.mask.model_dump(exclude_none=True) if body.mask else None
    return wire.prompt_from_body(body.points, body.labels, body.box, mask, size, logits)


def mask_answer(out: dict, alpha, codec: str):
    """JSON with the mask as base64 PNG (png16), else a binary message: the header and the
    mask's raw (u16) or zlib-compressed (u16z) pixels."""
    if codec == "png16":
        return {"alpha": {"png16": wire.b64(wire.mask_png16(alpha))}, **out}
    meta, blob = wire.mask_blob(alpha, codec)
    return Response(wire.pack({"alpha": meta, **out}, [blob]), media_type=wire.BINARY)


def add_routes(app: FastAPI, state: ServerState) -> None:
    models = state.models

    def size_of(session) -> tuple[int, int]:
        return int(session.frames.width), int(session.frames.height)

    def image_for(ref: FrameRef):
        if ref.hash:
            image = state.cache.get(ref.hash)
            if image is None:
                raise NotFound("that frame is not in the server's cache; upload it first.")
            return image
        if ref.session and ref.frame is not None:
            s = state.session(ref.session)
            return s.frames.read(s.check_frame(ref.frame))
        raise wire.WireError("give the image as a hash, or as a session and a frame.")

    # ------------------------------------------------------------------ sessions
    @app.post(API + "/sessions", summary="Open a session: a backend over one shot's frames")
    def open_session(body: SessionCreate):
        s = state.open_session(body.backend, body.model, body.media.model_dump(), body.image_size)
        p = s.plan
        size = (p.image_size or (p.random[1] if p.random else 1024)) if p.name == "sam2" else None
        return {"session": s.id, "backend": p.name, "describe": p.describe(), "mode": s.mode,
                "model_key": s.backends.key, "image_size": size}

    @app.delete(API + "/sessions/{sid}", summary="Close a session")
    def close_session(sid: Id16):
        state.close_session(sid)
        return {"closed": sid}

    @app.post(API + "/sessions/{sid}/frames", summary="Tell the session which uploaded frame is which")
    def register_frames(sid: Id16, body: FramesRegister):
        s = state.session(sid)
        if not isinstance(s.frames, UploadedFrames):
            raise ModelError("this session reads its frames by path; nothing to register.")
        hashes = {int(f): h for f, h in body.frames.items()}
        s.frames.register(hashes)
        return {"missing": state.cache.missing(sorted(set(hashes.values())))}

    @app.post(API + "/sessions/{sid}/predict", summary="Image prompt: points / box / mask -> soft alpha")
    def predict(sid: Id16, body: PredictRequest):
        s = state.session(sid)
        prompt = _prompt(body, size_of(s), logits=body.logits is not None)
        logits = wire.decode_array(body.logits.model_dump(exclude_none=True), what="logits") \
            if body.logits else None
        key: tuple[str, str | int]  # the uploaded frame's hash, or the shot's frame number
        if body.hash:
            key, image = ("hash", body.hash), None
        elif body.frame is not None:
            key, image = ("frame", s.check_frame(body.frame)), None
            if isinstance(s.frames, UploadedFrames) and body.frame not in s.frames.hashes:
                raise NotFound(f"frame {body.frame} was not uploaded; upload it first.")
        else:
            raise wire.WireError("give the frame (or the hash of an uploaded frame).")

        def work():
            seg = s.backends.image
            has = getattr(seg, "has_embedding", None)
            img = image
            if not (has is not None and has(key)):
                img = image_for(FrameRef(hash=body.hash)) if body.hash else s.frames.read(key[1])
            seg.set_image(img, key=key)
            return seg.predict(prompt, mask_logits=logits, multimask=body.multimask)

        pred = models.run(work, torch=s.plan.uses_torch)
        out: dict[str, Any] = {"score": float(pred.score)}
        if pred.logits is not None:
            out["logits"] = wire.encode_array(pred.logits)
        return mask_answer(out, pred.alpha, body.masks)

    @app.post(API + "/sessions/{sid}/prefetch", summary="Compute image embeddings ahead of clicks")
    def prefetch(sid: Id16, body: Prefetch):
        s = state.session(sid)
        frames = [s.check_frame(f) for f in body.frames]
        if isinstance(s.frames, UploadedFrames):
            frames = [f for f in frames if f in s.frames.hashes]

        def work():
            s.backends.image.prefetch([(("frame", f), s.frames.read(f)) for f in frames])

        models.run(work, torch=s.plan.uses_torch)
        return {"frames": frames}

    @app.post(API + "/sessions/{sid}/find", summary="Text prompt: every instance of some phrases on a frame")
    def find(sid: Id16, body: FindRequest):
        from roto_studio.models.text import backends as text_backends
        from roto_studio.models.text.find import split_phrases

        s = state.session(sid)
        frame = s.check_frame(body.frame)
        if isinstance(s.frames, UploadedFrames) and frame not in s.frames.hashes:
            raise NotFound(f"frame {frame} was not uploaded; upload it first.")
        phrases = split_phrases(body.text)
        if not phrases:
            raise wire.WireError("give a phrase to find, e.g. 'person, dog'.")
        plan = text_backends.choose(body.backend)

        def work():
            seg = s.backends.image if plan.name == "grounding-dino" else None  # its boxes go to SAM 2
            what = plan.model or ("random" if plan.random else str(plan.folder))
            key = f"text:{plan.name}:{what}:{state.device}" + (f":{s.id}" if seg is not None else "")
            finder = state.manager.get(key, lambda: text_backends.build(plan, seg, device=state.device))
            finder.set_image(s.frames.read(frame), key=("frame", s.id, frame))
            return finder.find(phrases, min_score=body.min_score)

        found = models.run(work)
        return {"backend": plan.describe(), "found": [
            {"phrase": f.phrase, "score": float(f.score), "box": [float(v) for v in f.box],
             "alpha": {"png16": wire.b64(wire.mask_png16(f.alpha))}} for f in found]}

    @app.post(API + "/sessions/{sid}/video/prompt", summary="Condition an object on a frame (video)")
    def video_prompt(sid: Id16, body: VideoPrompt):
        s = state.session(sid)
        prompt = _prompt(body, size_of(s))
        frame = s.check_frame(body.frame)
        if isinstance(s.frames, UploadedFrames) and frame not in s.frames.hashes:
            raise NotFound(f"frame {frame} was not uploaded; upload it first.")

        alpha = models.run(lambda: s.video().add_prompt(frame, body.obj_id, prompt), torch=s.plan.uses_torch)
        return mask_answer({}, alpha, body.masks)

    @app.post(API + "/sessions/{sid}/video/reset", summary="Forget every prompt and the video memory")
    def video_reset(sid: Id16):
        s = state.session(sid)

        def work():
            s.video().reset()
            s.lost = False

        models.run(work, torch=s.plan.uses_torch)
        return {"reset": True}

    @app.post(API + "/sessions/{sid}/video/remove", summary="Remove an object from the video state")
    def video_remove(sid: Id16, body: ObjectRef):
        s = state.session(sid)
        models.run(lambda: s.video().remove_object(body.obj_id), torch=s.plan.uses_torch)
        return {"removed": body.obj_id}

    @app.post(API + "/sessions/{sid}/propagate", summary="Start a propagation job (stream it at /v1/jobs/ID/stream)")
    def propagate(sid: Id16, body: PropagateRequest):
        s = state.session(sid)
        job = state.start_propagation(s, body.start, body.reverse, body.stop, body.masks)
        return {"job": job.id, "total": job.total}

    @app.post(API + "/sessions/{sid}/track_text",
              summary="Start a SAM 3 video job tracking phrases through the shot (stream it at /v1/jobs/ID/stream)")
    def track_text(sid: Id16, body: TrackTextRequest):
        from roto_studio.server.text_jobs import start_text_tracking

        s = state.session(sid)
        phrases = [" ".join(p.split()) for p in body.phrases]
        if not all(phrases):
            raise wire.WireError("every phrase needs a word, e.g. ['person', 'dog'].")
        job = start_text_tracking(state, s, phrases, body.start, body.reverse, body.stop, body.masks)
        return {"job": job.id, "total": job.total}

    # ------------------------------------------------------------------ jobs
    @app.get(API + "/jobs/{jid}", summary="A job's state")
    def job_state(jid: Id16):
        j = state.job(jid)
        return {"job": j.id, "kind": j.kind, "state": j.state, "done": j.done, "total": j.total, "error": j.error}

    @app.get(API + "/jobs/{jid}/stream", summary="The job's events as JSON lines, ending with its state")
    def job_stream(jid: Id16, request: Request):
        j = state.job(jid)
        if j.streaming:
            raise Conflict("this job is already being streamed.")
        j.streaming = True

        binary = wire.BINARY in request.headers.get("accept", "")

        def lines():
            finished = False
            try:
                for event in j.stream():
                    finished = "state" in event
                    blobs = event.pop("_blobs", None) or []
                    if binary:
                        yield wire.pack(event, blobs)
                        continue
                    for (o, meta), blob in zip(list(event.get("masks", {}).items()), blobs):
                        event["masks"][o] = {**meta, "data": wire.b64(blob)}
                    yield json.dumps(event, separators=(",", ":")) + "\n"
            finally:
                if not finished:  # the client went away: stop the job
                    j.cancel.set()

        return StreamingResponse(lines(), media_type=wire.BINARY if binary else "application/x-ndjson")

    @app.post(API + "/jobs/{jid}/cancel", summary="Cancel a job between frames (finished frames stay)")
    def job_cancel(jid: Id16):
        j = state.job(jid)
        j.cancel.set()
        j.ended.wait(CANCEL_WAIT_S)  # between frames: its session takes the next job once it answers
        return {"job": j.id, "state": j.state}

    # ------------------------------------------------------------------ frames
    @app.post(API + "/frames/missing", summary="Which of these frame hashes the server lacks")
    def frames_missing(body: HashList):
        return {"missing": state.cache.missing(body.hashes)}

    @app.put(API + "/frames/{digest}", summary="Upload one frame (RGB PNG) named by the SHA-256 of its pixels")
    async def frame_upload(request: Request, digest: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]):
        data = await request.body()
        import anyio

        await anyio.to_thread.run_sync(state.cache.put, digest, data)
        return {"stored": digest}

    # ------------------------------------------------------------------ matting, inpainting
    @app.post(API + "/matte", summary="Soft alpha from a frame and a trimap")
    def matte(body: MatteRequest):
        image = image_for(body.image)
        h, w = image.shape[:2]
        trimap = wire.gray8_from_png(wire.unb64(body.trimap.png8, "trimap"), (w, h), "the trimap")
        from roto_studio.models.matting.vitmatte import available_backends, make_matter

        name = body.backend
        if name == "auto":
            name = "vitmatte" if "vitmatte" in available_backends() else "classical"
        if name == "classical":
            matter = make_matter("classical")
        else:
            matter = models.run(lambda: state.manager.get(f"matting:{name}:{state.device}",
                                                          lambda: make_matter(name, device=state.device)))
        alpha = models.run(lambda: matter.refine(image, trimap), torch=name != "classical")
        return {"alpha": {"png16": wire.b64(wire.mask_png16(alpha))}, "backend": matter.name}

    @app.post(API + "/inpaint", summary="Fill a hole in a frame (clean plate)")
    def inpaint(body: InpaintRequest):
        from roto_studio.models.weights import registry

        model = state.model_roots.resolve(body.model, [s.name for s in registry.by_kind("inpaint")])
        image = image_for(body.image)
        h, w = image.shape[:2]
        hole = wire.gray8_from_png(wire.unb64(body.hole.png8, "hole"), (w, h), "the hole") > 127
        from roto_studio.models.cleanplate.frame import make_inpainter

        if body.backend == "opencv":
            inp, torch = make_inpainter("opencv"), False
        else:  # the model is loaded once; prompt and seed are per request
            key = f"inpaint:{body.backend}:{model or ''}:{state.device}"
            inp = models.run(lambda: state.manager.get(key, lambda: make_inpainter(
                body.backend, model=model, device=state.device)))
            torch = type(inp).__name__ != "OpenCVInpainter"
            if hasattr(inp, "variant"):
                inp = inp.variant(prompt=body.prompt, seed=body.seed)
        filled = models.run(lambda: inp.fill(image, hole), torch=torch)
        return {"image": {"png": wire.b64(wire.rgb_png(filled))}, "backend": getattr(inp, "name", "inpaint")}

    # ------------------------------------------------------------------ weights registry
    @app.get(API + "/weights", summary="Known model weights and their state on the server")
    def weights_list(check: bool = False):
        from roto_studio.models.weights import registry
        from roto_studio.models.weights import store as weights

        out = []
        for spec in registry.all_specs():
            st = weights.status(spec.name, check=check)
            out.append({"name": spec.name, "kind": getattr(spec, "kind", None), "size": getattr(spec, "size", None),
                        "state": st.state, "file": st.path.name if st.path else None})
        return {"weights": out}

    def known(name: str) -> str:
        from roto_studio.models.weights import registry

        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name) or name not in {s.name for s in registry.all_specs()}:
            raise NotFound("unknown model; GET /v1/weights lists the known ones.")
        return name

    @app.post(API + "/weights/{name}/verify", summary="Check a weight file's checksum")
    def weights_verify(name: str):
        from roto_studio.models.weights import store as weights

        st = weights.verify(known(name))
        return {"name": st.name, "state": st.state, "usable": st.usable}

    @app.post(API + "/weights/{name}/download", summary="Download weights (a job: stream its progress)")
    def weights_download(name: str, body: DownloadRequest | None = None):

        name = known(name)
        job = state.new_job("download")
        force = bool(body and body.force)

        def run():
            def progress(done, total):
                job.done, job.total = int(done), int(total or 0)
                job.put({"progress": [job.done, job.total]}, block=False)

            try:
                from roto_studio.models.weights import fetch

                path = fetch.download(name, progress=progress, cancel=job.cancel.is_set, force=force)
                job.put({"file": path.name}, block=False)
                job.finish("cancelled" if job.cancel.is_set() else "succeeded")
            except Exception as exc:  # noqa: BLE001
                from roto_studio.core.errors import Cancelled

                job.finish("cancelled" if isinstance(exc, Cancelled) else "failed", public_message(exc))

        threading.Thread(target=run, name=f"roto-download-{job.id}", daemon=True).start()
        return {"job": job.id}
