"""The farm templates in packaging/farm/ run a shot to the same files as one `render`:
the OpenJD job template (validated and expanded by openjd-model, each task's script run by bash)
and the OpenCue outline (built by pyoutline, serialised to the cuebot job spec, each chunk's
command run with the tokens cuebot fills in). Chunks run last-first to show order does not matter."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import xml.etree.ElementTree as Et
from pathlib import Path

import pytest

from roto_studio.cli import main
from tests.render_shots import make_shot, results

ROOT = Path(__file__).resolve().parents[1]
FARM = ROOT / "packaging" / "farm"
FRAMES = 12


@pytest.fixture
def shim(tmp_path):
    """A `roto-studio` executable for the farm commands: this checkout's CLI."""
    exe = tmp_path / "bin" / "roto-studio"
    exe.parent.mkdir()
    exe.write_text(f"#!/bin/sh\nexec '{sys.executable}' -m roto_studio \"$@\"\n")
    exe.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "PATH": f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return exe, env


def reference(tmp_path, stages):
    shot = make_shot(tmp_path / "ref", "sh010", frames=FRAMES)
    assert main(["render", str(shot), "--stages", stages, "--out", str(tmp_path / "ref_out"),
                 "--format", "png16"]) == 0
    return results(shot, tmp_path / "ref_out")


def run_shell(script: str, env, cwd) -> None:
    r = subprocess.run(["bash", "-c", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]


def test_openjd_template_runs_a_shot_like_one_render(tmp_path, shim):
    yaml = pytest.importorskip("yaml")
    model = pytest.importorskip("openjd.model")
    exe, env = shim
    want = reference(tmp_path, "track,matte,cleanplate,export")
    shot = make_shot(tmp_path / "farm", "sh010", frames=FRAMES)
    template = model.decode_job_template(template=yaml.safe_load((FARM / "roto_openjd.yaml").read_text()))
    values = model.preprocess_job_parameters(
        job_template=template, job_template_dir=FARM, current_working_dir=tmp_path,
        job_parameter_values={"Project": str(shot), "OutDir": str(tmp_path / "farm_out"), "Format": "png16",
                              "OutputStages": "cleanplate,export", "FrameStart": "1001",
                              "FrameEnd": str(1000 + FRAMES), "ChunkSize": "5", "RotoStudio": str(exe)})
    job = model.create_job(job_template=template, job_parameter_values=values)
    assert [s.name for s in job.steps] == ["Track", "Matte", "Outputs"]
    params = {f"Param.{k}": v.value for k, v in values.items()}
    starts = []
    for step in job.steps:
        tasks = list(model.StepParameterSpaceIterator(space=step.parameterSpace)) if step.parameterSpace else [{}]
        for task in reversed(tasks):
            table = dict(params)
            table.update({f"Task.Param.{k}": v.value for k, v in task.items()})
            for f in step.script.embeddedFiles or []:
                path = tmp_path / f"{step.name}_{f.name}.sh"
                table[f"Task.File.{f.name}"] = str(path)
            symtab = model.SymbolTable(source=table)
            for f in step.script.embeddedFiles or []:
                Path(table[f"Task.File.{f.name}"]).write_text(f.data.resolve(symtab=symtab))
            action = step.script.actions.onRun
            argv = [action.command.resolve(symtab=symtab), *(a.resolve(symtab=symtab) for a in action.args or [])]
            subprocess.run(argv, env=env, cwd=tmp_path, check=True, capture_output=True, timeout=300)
            if step.name == "Matte":
                starts.append(int(task["ChunkStart"].value))
    assert sorted(starts) == [1001, 1006, 1011]
    got = results(shot, tmp_path / "farm_out")
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], name


def test_opencue_outline_runs_a_shot_like_one_render(tmp_path, shim):
    pytest.importorskip("outline")
    exe, env = shim
    want = reference(tmp_path, "track,matte,export")
    shot = make_shot(tmp_path / "farm", "sh010", frames=FRAMES)
    spec = importlib.util.spec_from_file_location("roto_opencue", FARM / "roto_opencue.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from outline import cuerun
    from outline.backend import cue

    ol = mod.build_outline(str(shot), str(tmp_path / "farm_out"), "png16", chunk=5, roto=str(exe))
    xml = Et.fromstring(cue.serialize_simple(cuerun.OutlineLauncher(ol)))  # the job spec cuebot gets
    layers = xml.findall("./job/layers/layer")
    assert [layer.get("name") for layer in layers] == ["track", "matte", "outputs"]
    deps = {(d.findtext("deplayer"), d.findtext("onlayer"), d.get("type")) for d in xml.findall("./depends/depend")}
    assert deps == {("matte", "track", "LAYER_ON_LAYER"), ("outputs", "matte", "LAYER_ON_LAYER")}
    for layer in layers:  # what cuebot does: one task per chunk of the range, tokens filled in
        first, _, last = layer.findtext("range").partition("-")
        first, last = int(first), int(last or first)
        size = int(layer.findtext("chunk"))
        for a in reversed(range(first, last + 1, size)):
            b = min(a + size - 1, last)
            cmd = layer.findtext("cmd").replace("#FRAME_START#", str(a)).replace("#FRAME_END#", str(b))
            cmd = cmd.replace("#IFRAME#", str(a))
            run_shell(cmd, env, tmp_path)
    got = results(shot, tmp_path / "farm_out")
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], name
