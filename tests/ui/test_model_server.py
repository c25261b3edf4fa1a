"""The window's models in a local model server child process (the default).

- A fresh window process: clicks are answered by the server child, the window never imports
  torch, and closing the window stops the child.
- Faults: the server is SIGKILLed at random moments of a propagation driven through the window
  (ROTO_FAULT_KILLS times: 8 here, 20 in benchmarks/bench_server_faults.py): the window stays up and says so in one line, the server
  restarts, no finished frame is lost, and resuming (Ctrl+R) completes the span with the same
  masks as an uninterrupted run. CPU fallback and tiny frames keep each round short.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from tests.ui.conftest import make_sample

ROOT = Path(__file__).resolve().parents[2]
W, H, FRAMES = 96, 64, 16


def _disc(i, frames=FRAMES, w=W, h=H):
    t = i / max(frames - 1, 1)
    return w * (0.2 + 0.6 * t), h * (0.5 + 0.15 * np.sin(t * 2 * np.pi))


def _cpu_window(qtbot, settings):
    """The window on the CPU fallback (tiny frames, short rounds), shown, answering yes."""
    from roto_studio.ui.main_window import MainWindow

    settings.setValue("models/device", "cpu")
    settings.setValue("models/backend", "classical")
    w = MainWindow(settings)
    w.ask = lambda *a, **k: True
    qtbot.addWidget(w)
    w.show()
    return w


def test_window_runs_models_in_a_server_child_without_torch(tmp_path):
    make_sample.make_sample(tmp_path / "media" / "shot.png", frames=6, width=W, height=H)
    code = textwrap.dedent(f"""
        import os, sys, time
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        os.environ["ROTO_PROJECTS_DIR"] = {str(tmp_path / "projects")!r}
        from PySide6.QtCore import QSettings, QCoreApplication
        from roto_studio.ui.app import create_app
        from roto_studio.ui.main_window import MainWindow
        app = create_app()
        s = QSettings({str(tmp_path / "settings.ini")!r}, QSettings.Format.IniFormat)
        s.setValue("project/autosave_s", 0)
        s.setValue("models/backend", "classical")
        s.setValue("models/device", "cpu")
        w = MainWindow(s)
        w.ask = lambda *a, **k: True
        w.show()
        def spin(cond, t=60):
            end = time.time() + t
            while not cond() and time.time() < end:
                app.processEvents(); time.sleep(0.01)
            return cond()
        assert w.projects.open_media_path({str(tmp_path / "media")!r})
        assert spin(lambda: w.shot.frame is not None)
        w.prompting.on_click({_disc(0, 6)[0]}, {_disc(0, 6)[1]}, 1)
        assert spin(lambda: w.shot.project.masks.has(w.shot.current_obj, w.shot.frame)), w.message.text()
        host = w.shot.server
        print("mode", host.mode, "pid", host.pid, "torch", "torch" in sys.modules)
        print("label", w.backend_label.text())
        pid = host.pid
        w.close()
        app.processEvents()
        time.sleep(0.5)
        try:
            os.kill(pid, 0)
            print("child alive after close")
        except ProcessLookupError:
            print("child stopped")
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ROTO_DEVICE", None)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "mode local" in r.stdout and "torch False" in r.stdout, r.stdout
    assert "label Backend: classical" in r.stdout and "child stopped" in r.stdout, r.stdout


def _mask_bytes(project, obj):
    folder = project.masks.folder / obj
    return {int(p.stem): p.read_bytes() for p in folder.glob("*.png")}


def _run_to_end(qtbot, w) -> str:
    qtbot.waitUntil(lambda: not w.shot.job_running(), timeout=60000)
    return w.shot.job.state


def _click_and_propagate(qtbot, w, clip):
    """Open the clip, click the disc, propagate forward: (project, object, first frame, masks)."""
    assert w.projects.open_media_path(clip)
    qtbot.waitUntil(lambda: w.shot.frame is not None, timeout=30000)
    first = w.shot.frame
    w.prompting.on_click(*_disc(0), 1)
    qtbot.waitUntil(lambda: w.shot.project.masks.has(w.shot.current_obj, first), timeout=60000)
    project, obj = w.shot.project, w.shot.current_obj
    w.jobs.propagate("forward")
    assert _run_to_end(qtbot, w) == "succeeded"
    reference = _mask_bytes(project, obj)
    assert len(reference) == FRAMES
    return project, obj, first, reference


def _clear_after(project, obj, first) -> None:
    for f in project.masks.frames(obj):
        if f != first:
            project.masks.delete(obj, f)


def test_server_killed_during_propagation_window_recovers(qtbot, settings, tmp_path):
    kills = int(os.environ.get("ROTO_FAULT_KILLS", "8"))  # benchmarks/bench_server_faults.py: 20
    clip = make_sample.make_sample(tmp_path / "media" / "shot.png", frames=FRAMES, width=W, height=H)
    settings.setValue("models/server", "local")
    w = _cpu_window(qtbot, settings)
    try:
        project, obj, first, reference = _click_and_propagate(qtbot, w, clip)
        assert w.shot.server is not None and w.shot.server.mode == "local"

        def clear():
            _clear_after(project, obj, first)

        rng = np.random.default_rng(11)
        seen: list[int] = []
        w.shot.masksWritten.connect(lambda f, _o: seen.append(int(f)))
        interrupted = restarted = 0
        rounds = []
        for i in range(kills):
            clear()
            seen.clear()
            host, service = w.shot.server, w.shot.service
            pid = host.pid
            at = int(rng.integers(0, FRAMES - 1))  # frames written before the kill (0: at once)
            delay = float(rng.uniform(0, 0.05))
            t0 = time.perf_counter()
            killed = []

            def kill():
                if not killed:
                    killed.append(len(seen))
                    time.sleep(delay)
                    os.kill(pid, signal.SIGKILL)

            def hook(_f, _o):
                if len(seen) >= at:
                    kill()
            w.shot.masksWritten.connect(hook)
            w.jobs.propagate("forward")
            if at == 0:
                kill()
            state = _run_to_end(qtbot, w)
            t_end = time.perf_counter() - t0
            w.shot.masksWritten.disconnect(hook)
            assert w.isVisible()
            # the finished frames are all there, as the uninterrupted run made them
            got = _mask_bytes(project, obj)
            assert all(got.get(f) == reference[f] for f in seen), f"round {i}: a finished frame was lost"
            # the server restarts and the model service reconnects
            qtbot.waitUntil(lambda: host.pid != pid and host.alive() and host.url and w.shot.service is not service,
                            timeout=60000)
            restarted += 1
            t_up = time.perf_counter() - t0
            if state != "succeeded":
                interrupted += 1
                # known as soon as the job ends, from its result (not from a later signal)
                assert w.jobs.interrupted is not None, f"round {i}: the interruption was not recorded"
                text = w.message.text()
                assert "model server stopped" in text and "\n" not in text, text
                w.jobs.resume()
                assert _run_to_end(qtbot, w) == "succeeded", w.message.text()
            assert _mask_bytes(project, obj) == reference, f"round {i}: masks differ after resuming"
            rounds.append(time.perf_counter() - t0)
            if os.environ.get("ROTO_FAULT_TRACE"):
                print(f"round {i}: kill after {at} frames, job ended {t_end:.2f}s, server back {t_up:.2f}s, "
                      f"done {rounds[-1]:.2f}s ({state})")
        assert restarted == kills and interrupted >= kills // 2
        print(f"{kills} kills, {interrupted} interrupted a propagation; "
              f"{np.mean(rounds):.2f} s per round (max {max(rounds):.2f} s)")
    finally:
        w.close()


def test_remote_server_token_kept_out_of_settings_reconnect_and_resume(qtbot, settings, tmp_path):
    """A remote server: its token goes to the OS keyring or a 0600 file, never the settings file
    (an old plain-text one is moved); when the server is killed during a propagation the window
    says so in one line, notices when it answers again (restarted on the same port), reconnects,
    and Ctrl+R completes the span with the same masks as an uninterrupted run."""
    import socket

    from tests.server.helpers import start_server

    os.environ["ROTO_NO_KEYRING"] = "1"  # the test must not write to this machine's keyring
    clip = make_sample.make_sample(tmp_path / "media" / "shot.png", frames=FRAMES, width=W, height=H)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve = ("--port", str(port), "--media-root", str(tmp_path / "media"), "--device", "cpu")
    srv = start_server(tmp_path / "srv", *serve)
    settings.setValue("models/server", "remote")
    settings.setValue("models/server_url", srv.url)
    settings.setValue("models/server_token", srv.token)  # as an older version saved it
    w = _cpu_window(qtbot, settings)
    try:
        assert w.shot.model_settings()["server_token"] == srv.token
        settings.sync()
        token_file = tmp_path / "server-tokens.json"
        assert srv.token not in (tmp_path / "settings.ini").read_text()
        assert srv.token in token_file.read_text() and (token_file.stat().st_mode & 0o777) == 0o600
        w.settings_ctl.apply_model_settings({**w.shot.model_settings(), "server_token": srv.token})
        settings.sync()
        assert srv.token not in (tmp_path / "settings.ini").read_text()

        project, obj, first, reference = _click_and_propagate(qtbot, w, clip)
        assert w.shot.server.mode == "remote"
        _clear_after(project, obj, first)

        seen: list[int] = []

        def kill(frame, _objs):
            seen.append(int(frame))
            if len(seen) == 4 and srv.alive():
                srv.proc.send_signal(signal.SIGKILL)

        w.shot.masksWritten.connect(kill)
        w.jobs.propagate("forward")
        state = _run_to_end(qtbot, w)
        w.shot.masksWritten.disconnect(kill)
        assert state != "succeeded" and w.isVisible()
        qtbot.waitUntil(lambda: "model server stopped" in w.message.text(), timeout=30000)
        assert "\n" not in w.message.text()
        got = _mask_bytes(project, obj)
        assert seen and all(got.get(f) == reference[f] for f in seen)  # finished frames kept
        service = w.shot.service

        again = start_server(tmp_path / "srv2", *serve, token=srv.token)  # back on its port
        try:
            qtbot.waitUntil(lambda: "answers again" in w.message.text() and w.shot.service is not service,
                            timeout=60000)
            w.jobs.resume()
            assert _run_to_end(qtbot, w) == "succeeded", w.message.text()
            assert _mask_bytes(project, obj) == reference
        finally:
            again.stop()
    finally:
        os.environ.pop("ROTO_NO_KEYRING", None)
        w.close()
        srv.stop()
