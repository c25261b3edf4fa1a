"""`roto-studio models list | download NAME [--accept-licence] [--resume] | verify [NAME]`: the model weights,
their licences and whether each permits commercial use."""

from __future__ import annotations

import os
import signal
import sys
import threading

from roto_studio.commands.common import Progress

HELP = "List, download or verify model weights (SAM 2.1, ViTMatte, ...)."
OPEN_LICENCES = ("Apache-2.0", "MIT")


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("list", help="every known model: size, status (ok / unverified / missing / wrong size / "
                                    "bad hash / unreadable), folder")
    p.add_argument("--no-check", action="store_true", help="do not hash files (faster; status 'present')")
    p = sub.add_parser("download", help="download NAME into the weights folder (Ctrl-C cancels)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--force", action="store_true", help="download again even if a good copy exists")
    p.add_argument("--resume", action="store_true",
                   help="keep what was fetched when stopped (Ctrl-C) and go on from it next time")
    p.add_argument("--accept-licence", "--accept-license", dest="accept_licence", action="store_true",
                   help="accept NAME's licence (needed for models whose licence forbids commercial use)")
    p = sub.add_parser("verify", help="re-check the checksums of NAME (or of every model present)")
    p.add_argument("name", metavar="NAME", nargs="?")


def _size(n: int | None) -> str:
    if not n:
        return "?"
    return f"{n / 2**20:.0f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


def run(args) -> int:
    return {"list": _list, "download": _download, "verify": _verify}[args.action](args)


def _list(args) -> int:
    from roto_studio.models.weights import registry
    from roto_studio.models.weights import store as weights

    rows, notes = [], []
    for s in registry.all_specs():
        st = weights.status(s.name, check=not args.no_check)
        rows.append((s.name, _size(s.size), st.state, s.licence or "?", "yes" if s.commercial else "no",
                     str(st.folder) if st.state != "missing" else "-"))
        note = weights.message(st) if st.state != "ok" else ""
        if note and not note.startswith(f"the {s.name} weights are missing"):  # plain absence needs no note
            notes.append(note)
    head = ("NAME", "SIZE", "STATUS", "LICENCE", "COMMERCIAL", "FOLDER")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
    for r in [head] + rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:<{widths[3]}}  "
              f"{r[4]:<{widths[4]}}  {r[5]}")
    for note in notes:
        print(note, file=sys.stderr)
    print(f"weights folder: {weights.weights_dir()}", file=sys.stderr)
    from roto_studio.models.weights import licences

    barred = [s.name for s in registry.all_specs() if not s.commercial]
    if barred:
        print(("Auto may pick " if licences.allow_noncommercial() else "Auto never picks ")
              + ", ".join(barred) + " (non-commercial licence"
              + (f", allowed by {licences.ALLOW_ENV} or --allow-noncommercial)" if licences.allow_noncommercial()
                 else f"; set {licences.ALLOW_ENV}=1 to allow); they download after "
                      "`roto-studio models download NAME --accept-licence`"), file=sys.stderr)
    if os.environ.get(registry.PINS_ENV):
        print(f"pins from {registry.PINS_ENV}={os.environ[registry.PINS_ENV]} (a mirror's or a test's), "
              "not the published ones", file=sys.stderr)
    offline = weights.offline_folders()
    if offline:
        print("offline folders: " + ", ".join(map(str, offline)), file=sys.stderr)
    return 0


def _download(args) -> int:
    from roto_studio.core.errors import Cancelled
    from roto_studio.models.weights import store as weights

    spec = weights.spec(args.name)  # unknown name -> ModelError listing the known ones
    if args.accept_licence and not spec.commercial:
        where = weights.accept_licence(spec.name)
        print(f"{spec.name}: you accepted {spec.licence} (non-commercial use only); recorded in {where}",
              file=sys.stderr)
    if not spec.commercial:
        from roto_studio.models.weights import licences

        licences.require_accepted(spec.name)  # one line saying how to accept, before anything else
    elif spec.licence:
        print(f"{spec.name}: licence {spec.licence}" + (
            "" if spec.licence in OPEN_LICENCES else
            f" (read it at https://huggingface.co/{spec.repo_id} and accept it there first; "
            "the download then needs your hub token, e.g. `hf auth login`)"), file=sys.stderr)
    stop = threading.Event()
    old = None
    if threading.current_thread() is threading.main_thread():
        old = signal.signal(signal.SIGINT, lambda *a: stop.set())
    try:
        from roto_studio.models.weights import fetch

        path = fetch.download(args.name, progress=Progress(args.name, amount=_size), cancel=stop.is_set, force=args.force,
                                resume=args.resume)
    except Cancelled as exc:
        print(f"\nroto-studio: {exc}", file=sys.stderr)
        return 130
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
    print(file=sys.stderr)
    st = weights.status(args.name)
    print(f"{args.name}: {st.state} {path.parent}")
    if st.state != "ok":
        print(weights.message(st), file=sys.stderr)
    return 0


def _verify(args) -> int:
    from roto_studio.core.errors import ModelError
    from roto_studio.models.weights import registry
    from roto_studio.models.weights import store as weights

    if args.name:
        st = weights.verify(args.name)
        if st.state == "missing":
            raise ModelError(weights.message(st))
        statuses = [st]
    else:
        statuses = [weights.verify(s.name) for s in registry.all_specs()]
        statuses = [st for st in statuses if st.state != "missing"]
        if not statuses:
            print("no model weights are present; `roto-studio models list` shows what can be downloaded.")
            return 0
    bad = 0
    for st in statuses:
        bad += not st.usable
        print(f"{st.name}: {st.state} {st.folder}")
        if st.state != "ok":
            print(weights.message(st), file=sys.stderr)
    return 1 if bad else 0
