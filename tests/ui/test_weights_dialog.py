"""The Settings and models dialog shows each model's weights state as `models list` does:
unverified is never shown as ok; a failing file says what is wrong with it and offers the download."""

import hashlib

from roto_studio.models.weights import registry
from roto_studio.models.weights import store as weights


def test_dialog_rows_show_the_states(qtbot, tmp_path, monkeypatch):
    from roto_studio.ui.dialogs import SettingsDialog

    w = tmp_path / "w"
    monkeypatch.setenv("ROTO_WEIGHTS_DIR", str(w))
    monkeypatch.delenv("ROTO_WEIGHTS_OFFLINE", raising=False)
    monkeypatch.delenv("ROTO_WEIGHTS_PINS", raising=False)
    weights.set_offline_folders([])
    data = b"weights"
    sha = hashlib.sha256(data).hexdigest()

    def spec(name, pin):
        return registry.WeightSpec(name, "vitmatte", f"t/{name}", "a" * 40, (registry.WeightFile("m.bin", *pin),))

    monkeypatch.setattr(registry, "SPECS", [spec("pinned", (sha, len(data))), spec("unpinned", (None, None)),
                                            spec("short", (sha, 99)), spec("absent", (sha, len(data)))])
    for name in ("pinned", "unpinned", "short"):
        (w / name).mkdir(parents=True)
        (w / name / "m.bin").write_bytes(data)
    d = SettingsDialog({})
    qtbot.addWidget(d)
    rows = {r.name: r for r in d.rows}
    assert rows["pinned"].state.text() == f"present, checked before first use ({w / 'pinned'})"
    assert rows["unpinned"].state.text() == f"unverified ({w / 'unpinned'})"
    assert "no checksum is published for m.bin" in rows["unpinned"].state.toolTip()
    assert rows["short"].state.text().startswith("wrong size")
    assert "has the wrong size (7 bytes, the pin says 99)" in rows["short"].state.toolTip()
    assert "roto-studio models download short" in rows["short"].state.toolTip()
    assert rows["short"].button.isEnabled() and rows["short"].button.text() == "Download"
    assert rows["absent"].state.text() == "missing" and rows["absent"].button.text() == "Download"
    weights.verify("pinned")  # once hashed, the cached result shows
    rows["pinned"].refresh()
    assert rows["pinned"].state.text() == f"ok ({w / 'pinned'})"
    assert not rows["pinned"].button.isEnabled()
