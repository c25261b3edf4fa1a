"""What each `batch --ray` task does around its render: it notes its attempts, so a retry can say
why the attempt before it failed (an error, or a worker that died: killed, out of memory, its
node lost), and which GPUs it was given; the summary lists every retry with its reason.

An attempt writes `NAME.roto/render/attempts/<task>.json` (`running`, the batch's run id, the
reasons so far) before it starts; finding one still `running` from the same run means the attempt
before died. An error other than a RotoError (bad input, which a retry cannot fix) is recorded
and raised as TaskFailed, which Ray retries (`retry_exceptions`).
"""

from __future__ import annotations

import json
import re
import traceback
from pathlib import Path

from roto_studio.core.errors import RotoError

DIED = "the worker died (killed, out of memory or its node lost)"


class TaskFailed(Exception):
    """An attempt failed with an error a retry may not see again (Ray retries these)."""


def _marker(shot: str, what: str) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", what).strip("_") or "task"
    return Path(shot) / "render" / "attempts" / f"{name}.json"


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(path: Path, data: dict) -> None:
    from roto_studio.core.atomic import write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(data))


def _gpu_ids() -> list:
    try:
        import ray

        return [str(g) for g in ray.get_gpu_ids()]
    except Exception:  # noqa: BLE001 - not in a Ray worker
        return []


def run_task(shot: str, out_root, kwargs: dict, frames, stages, what: str, run_id: str) -> dict:
    """One attempt of one task: `render_one`, with its attempts noted (see the module doc)."""
    from roto_studio.commands.batch import render_one

    marker = _marker(shot, what)
    state = _read(marker)
    reasons = list(state.get("reasons", [])) if state.get("run") == run_id else []
    if state.get("run") == run_id and state.get("running"):
        reasons.append(DIED)
    _write(marker, {"run": run_id, "running": True, "reasons": reasons})
    gpus = _gpu_ids()
    if gpus:
        with open(Path(shot) / "render" / "batch.log", "a", encoding="utf-8") as log:
            log.write(f"{Path(shot).name.removesuffix('.roto')}: {what} on GPU {','.join(gpus)}\n")
    try:
        info = render_one(shot, out_root, kwargs, frames=frames, stages=stages)
    except RotoError:
        marker.unlink(missing_ok=True)
        raise
    except Exception as exc:  # noqa: BLE001 - recorded, then retried by Ray
        lines = traceback.format_exception_only(type(exc), exc)
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}".strip()
        _write(marker, {"run": run_id, "running": False, "reasons": [*reasons, reason]})
        raise TaskFailed(reason if reason else "".join(lines).strip()) from None
    marker.unlink(missing_ok=True)
    info["retries"] = reasons
    info["gpus"] = gpus
    return info


def check_gpus(ray, gpus_per_shot: float, gpus_per_task: float) -> None:
    """A reservation the cluster can never meet would wait for ever: say so instead."""
    have = float(ray.cluster_resources().get("GPU", 0))
    for option, want in (("--gpus-per-shot", gpus_per_shot), ("--gpus-per-task", gpus_per_task)):
        if want and want > have:
            raise RotoError(f"{option} {want:g} asks for more GPUs than the cluster has ({have:g}); "
                            f"lower it, or add GPU nodes.")
