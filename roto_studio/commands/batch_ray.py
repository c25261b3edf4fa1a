"""`roto-studio batch --ray`: shots as Ray tasks (Ray is imported only here, only when asked).

Per shot: one tracking task (sequential, reserves `num_gpus`), then matte tasks over frame
chunks that depend on it, then clean plate / export tasks over the same chunks that depend on
every matte chunk of the shot (temporal smoothing and clean plates read neighbouring mattes).
ProRes export is one task per shot (one movie). Ray schedules, passes the dependencies and
retries a task whose worker died (`max_retries`); each task is `render_shot` on its stages and
frames, which skips frames already finished, so a retried task redoes only what was lost.
"""

from __future__ import annotations

import time

from roto_studio.core.errors import RotoError


def _task(shot: str, out_root, kwargs: dict, frames, stages, what: str, run_id: str, *upstream) -> dict:
    """One Ray task: some stages of one shot (upstream results are only waited for); its attempts
    noted for the summary (commands.batch_tasks)."""
    from roto_studio.commands.batch_tasks import run_task

    return run_task(shot, out_root, kwargs, frames, stages, what, run_id)


def _frame_numbers(shot) -> list[int]:
    from roto_studio.core.project import load_project

    with load_project(shot).open_media() as media:
        return list(media.frame_numbers)


def _chunks(numbers: list[int], size: int) -> list[tuple[int, int]]:
    return [(numbers[i], numbers[min(i + size, len(numbers)) - 1]) for i in range(0, len(numbers), size)]


def _message(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)
    if isinstance(cause, RotoError):
        return str(cause)
    text = str(cause if cause is not None else exc).strip().splitlines()
    return f"{type(cause or exc).__name__}: {text[-1] if text else ''}".strip()


def import_ray():
    try:
        import ray
    except ImportError:
        raise RotoError("--ray needs Ray (the optional extra `ray`): pip install 'roto-studio[ray]', "
                        "or run without --ray.") from None
    return ray


def submit_shot(ray, task, shot, numbers, out_root, kwargs, gpus, chunk, retries, gpus_per_task=0.0,
                run_id="") -> list:
    """The shot's task graph; returns [(ref, what)] in submission order. Tracking reserves `gpus`,
    matte and clean plate tasks `gpus_per_task`; errors and dead workers are retried `retries` times."""
    from roto_studio.commands.batch_tasks import TaskFailed

    stages = kwargs["stages"]
    name = shot.name.removesuffix(".roto")
    refs = []
    args = (str(shot), out_root, kwargs)

    def add(what, frames, todo, deps, **options):
        if gpus_per_task and ("matte" in todo or "cleanplate" in todo):
            options.setdefault("num_gpus", gpus_per_task)
        ref = task.options(name=f"roto {what} {name}", max_retries=retries, retry_exceptions=[TaskFailed],
                           **options).remote(*args, frames, todo, what, run_id, *deps)
        refs.append((ref, what))
        return ref

    deps = []
    if "track" in stages:
        deps = [add("track", None, ["track"], [], num_gpus=gpus)]
    chunks = _chunks(numbers, chunk)
    if "matte" in stages:
        deps = [add(f"matte {a}-{b}", (a, b), ["matte"], deps) for a, b in chunks] or deps
    down = [s for s in ("cleanplate", "export") if s in stages]
    options = kwargs.get("options")
    if "export" in down and options is not None and options.format == "prores":
        if "cleanplate" in down:
            for a, b in chunks:
                add(f"cleanplate {a}-{b}", (a, b), ["cleanplate"], deps)
        add("export", None, ["export"], deps)
    elif down:
        for a, b in chunks:
            add(f"{'+'.join(down)} {a}-{b}", (a, b), down, deps)
    return refs


def run_ray(shots, address, gpus_per_shot, chunk, retries, out_root, kwargs, gpus_per_task=0.0) -> list:
    import uuid

    from roto_studio.commands import common
    from roto_studio.commands.batch import ShotRow, shot_name, shot_out, writes_files
    from roto_studio.commands.batch_tasks import check_gpus

    ray = import_ray()
    own = not ray.is_initialized()
    if own:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="warning")
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RotoError(f"cannot start or reach Ray{f' at {address}' if address else ''} ({exc}); "
                            "check the address, or run without --ray.") from None
    try:
        if gpus_per_shot is None:
            gpus_per_shot = 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
        check_gpus(ray, gpus_per_shot, gpus_per_task or 0.0)
        run_id = uuid.uuid4().hex
        task = ray.remote(_task)
        rows = {s: ShotRow(shot_name(s), out=str(shot_out(s, out_root)) if writes_files(kwargs) else "")
                for s in shots}
        pending = {}
        for shot in shots:
            try:
                numbers = _frame_numbers(shot)
            except RotoError as exc:
                rows[shot].status = f"failed: {' '.join(str(exc).split())}"
                continue
            rows[shot].frames = len(numbers)
            for ref, what in submit_shot(ray, task, shot, numbers, out_root, kwargs, gpus_per_shot, chunk, retries,
                                         gpus_per_task or 0.0, run_id):
                pending[ref] = (shot, what)
        left = {s: sum(1 for v in pending.values() if v[0] == s) for s in shots}
        progress = common.Progress("batch", "tasks")
        tasks = len(pending)
        t0 = time.monotonic()
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    shot, what = pending.pop(ref)
                    row = rows[shot]
                    try:
                        info = ray.get(ref)
                        row.seconds += info["seconds"]
                        row.retries.extend(f"{what}: {reason}" for reason in info.get("retries", []))
                    except Exception as exc:  # noqa: BLE001 - Ray wraps the task's error
                        earlier = getattr(getattr(exc, "cause", None), "reasons", [])[:-1]
                        row.retries.extend(f"{what}: {reason}" for reason in earlier)
                        if row.status == "ok":
                            row.status = f"failed ({what}): {_message(exc)}"
                    left[shot] -= 1
                    finished = sum(1 for s in shots if left.get(s) == 0)
                    progress(tasks - len(pending), tasks, f"{finished}/{len(shots)} shots, {time.monotonic() - t0:.0f}s")
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return [rows[s] for s in shots]
    finally:
        if own:
            ray.shutdown()
