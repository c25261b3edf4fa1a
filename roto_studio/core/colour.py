"""Colour management through OpenColorIO.

Owns the OCIO config (`$OCIO` when set, else the built-in studio config whose versioned name is
saved with the project), each shot's input colour space (guessed from the file, always
overridable), the display/view transform that both the canvas and the models see (display-referred,
clamped to 0..1, 8-bit), and conversions between colour spaces for exports. Alpha is never
colour-managed: everything here takes and returns RGB only.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from roto_studio.core.errors import RotoError

DEFAULT_CONFIG = "ocio://studio-config-latest"
DEFAULT_DISPLAY = "sRGB - Display"
DEFAULT_VIEW = "Un-tone-mapped"  # an sRGB plate shows unchanged; linear plates get the plain sRGB curve

# Colour Interop Forum ids (also OpenEXR's `colorInteropID` attribute) with fallback names/roles
SRGB = "srgb_rec709_scene"
LINEAR = "lin_rec709_scene"
_FALLBACKS = {
    SRGB: (["sRGB Encoded Rec.709 (sRGB)", "sRGB - Texture", "sRGB", "srgb_tx"], ["color_picking", "texture_paint"]),
    LINEAR: (["Linear Rec.709 (sRGB)", "Linear", "lin_srgb", "linear"], ["scene_linear"]),
}

# FFmpeg's enum values (AVColorPrimaries / AVColorTransferCharacteristic / AVColorSpace / AVColorRange)
PRIMARIES = {1: "BT.709", 4: "BT.470M", 5: "BT.601 PAL", 6: "BT.601 NTSC", 7: "SMPTE 240M",
             9: "BT.2020", 11: "DCI-P3", 12: "Display P3"}
TRANSFERS = {1: "BT.709", 4: "gamma 2.2", 5: "gamma 2.8", 6: "BT.601", 8: "linear",
             13: "sRGB", 14: "BT.2020 10-bit", 15: "BT.2020 12-bit", 16: "PQ", 18: "HLG"}
MATRICES = {0: "RGB", 1: "BT.709", 5: "BT.601 PAL", 6: "BT.601 NTSC", 7: "SMPTE 240M",
            9: "BT.2020 non-constant", 10: "BT.2020 constant"}
# matrix tag -> swscale's name of the YUV->RGB matrix (PyAV's Colorspace)
SWSCALE_MATRIX = {1: "ITU709", 5: "ITU601", 6: "SMPTE170M", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}


class ColourError(RotoError):
    """A colour space, display or view that the config does not have, or a config that won't load."""


def _ocio() -> Any:
    import PyOpenColorIO

    return PyOpenColorIO


@dataclass(frozen=True)
class Config:
    """A loaded OCIO config and the name a project saves to reopen it identically."""

    name: str
    source: str  # "$OCIO" or "built-in"
    ocio: Any  # a PyOpenColorIO Config (the package ships no type hints)

    def spaces(self) -> list[str]:
        return list(self.ocio.getColorSpaceNames())

    def displays(self) -> list[str]:
        return list(self.ocio.getDisplays())

    def views(self, display: str) -> list[str]:
        return list(self.ocio.getViews(display))

    def has_space(self, name: str) -> bool:
        return self.ocio.getColorSpace(name) is not None

    def check_space(self, name: str) -> str:
        space = self.ocio.getColorSpace(name)
        if space is None:
            raise ColourError(f"colour space {name!r} is not in the OCIO config {self.name}; "
                              f"see `roto-studio info --colorspaces` for the names it has.")
        return str(space.getName())

    def space_for(self, interop_id: str) -> str | None:
        """The config's colour space for a Colour Interop Forum id, by id, then name, then role."""
        for space in self.ocio.getColorSpaces():
            if getattr(space, "getInteropID", lambda: "")() == interop_id:
                return str(space.getName())
        names, roles = _FALLBACKS.get(interop_id, ([], []))
        for name in names:
            if self.ocio.getColorSpace(name) is not None:
                return str(self.ocio.getColorSpace(name).getName())
        for role in roles:
            space = self.ocio.getColorSpace(role)
            if space is not None:
                return str(space.getName())
        return None

    def interop_id(self, name: str) -> str:
        space = self.ocio.getColorSpace(name)
        return getattr(space, "getInteropID", lambda: "")() if space is not None else ""

    def is_linear(self, name: str) -> bool:
        space = self.ocio.getColorSpace(name)
        if space is None:
            return False
        encoding = getattr(space, "getEncoding", lambda: "")()
        if encoding:
            return encoding == "scene-linear"
        return "lin" in name.lower() and not space.isData()

    def default_display(self) -> tuple[str, str]:
        displays = self.displays()
        display = DEFAULT_DISPLAY if DEFAULT_DISPLAY in displays else self.ocio.getDefaultDisplay()
        views = self.views(display)
        view = DEFAULT_VIEW if DEFAULT_VIEW in views else self.ocio.getDefaultView(display)
        return display, view


_configs: dict[str, Config] = {}
_lock = threading.Lock()


def load_config(saved: str | None = None) -> Config:
    """`$OCIO` when set; else the built-in config the project saved; else the latest built-in one."""
    ocio = _ocio()
    env = os.environ.get("OCIO", "").strip()
    if env:
        name, source = env, "$OCIO"
    elif saved and saved.startswith("ocio://"):
        name, source = saved, "built-in"
    else:
        name, source = ocio.ResolveConfigPath(DEFAULT_CONFIG), "built-in"
    with _lock:
        if name in _configs:
            return _configs[name]
        try:
            config = ocio.Config.CreateFromFile(name)
        except Exception as exc:
            if source == "built-in" and name != ocio.ResolveConfigPath(DEFAULT_CONFIG):
                # saved by a newer OCIO that we don't have: the newest we know is the closest
                return _configs.setdefault(name, load_config(None))
            raise ColourError(f"the OCIO config {name} cannot be loaded ({str(exc).splitlines()[0]}); "
                              f"fix $OCIO or unset it to use the built-in config.") from None
        result = Config(name=name, source=source, ocio=config)
        _configs[name] = result
        return result


@dataclass(frozen=True)
class Guess:
    name: str | None  # None: the config has no space for what the file says (nor a role for it)
    reason: str


def guess_colorspace(config: Config, facts: dict[str, Any]) -> Guess:
    """The input colour space for a shot from what its file says.

    facts: kind ("exr", "png", "tiff", "jpeg", "video", ...), float (bool), and where known
    exr_interop_id, exr_chromaticities (8-tuple), video_primaries / video_transfer / video_matrix.
    """
    kind = facts.get("kind", "")
    if kind == "exr" or (facts.get("float") and kind != "video"):
        interop = facts.get("exr_interop_id") or ""
        if interop:
            name = config.space_for(interop)
            if name:
                return Guess(name, f"EXR colorInteropID {interop}")
        chroma = facts.get("exr_chromaticities")
        if chroma:
            import OpenEXR

            found = OpenEXR.chromaticitiesToColorInteropID(tuple(float(c) for c in chroma))
            name = config.space_for(found) if found else None
            if name:
                return Guess(name, f"EXR: scene-linear, chromaticities match {found}")
            name = config.space_for(LINEAR)
            return Guess(name, "EXR: scene-linear; its chromaticities match no known primaries, "
                               "Rec.709 assumed")
        return Guess(config.space_for(LINEAR), "EXR: scene-linear, no chromaticities: Rec.709 primaries assumed")
    if kind == "video":
        return _guess_video(config, facts)
    label = {"png": "PNG", "tiff": "TIFF", "jpeg": "JPEG"}.get(kind, kind.upper() or "image")
    bits = facts.get("bit_depth")
    depth = f"{bits}-bit " if bits else ""
    return Guess(config.space_for(SRGB), f"{depth}{label}: sRGB")


def _guess_video(config: Config, facts: dict[str, Any]) -> Guess:
    primaries = int(facts.get("video_primaries") or 2)
    transfer = int(facts.get("video_transfer") or 2)
    tags = ", ".join(f"{what} {table.get(value, value)}" for what, table, value in
                     (("primaries", PRIMARIES, primaries), ("transfer", TRANSFERS, transfer))
                     if value not in (0, 2))
    if transfer == 16:
        name = config.space_for("pq_rec2020_display") or config.space_for(SRGB)
        return Guess(name, f"video tagged {tags}: Rec.2100 PQ")
    if transfer == 18:
        name = config.space_for("hlg_rec2020_display") or config.space_for(SRGB)
        return Guess(name, f"video tagged {tags}: Rec.2100 HLG")
    if transfer == 8:
        return Guess(config.space_for(LINEAR), f"video tagged {tags}: linear")
    if not tags:
        return Guess(config.space_for(SRGB), "untagged video: code values shown as they are (sRGB)")
    return Guess(config.space_for(SRGB), f"video tagged {tags}: display-referred, code values shown as "
                                         f"they are (sRGB)")


class Processor:
    """One OCIO transform on float RGB, thread-safe, with a fast path when it changes nothing."""

    def __init__(self, processor: Any) -> None:
        self._cpu = processor.getDefaultCPUProcessor()
        self.identity = bool(processor.isNoOp()) or _near_identity(self._cpu)

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 (or Nx3) float -> a new float32 array."""
        out = np.array(rgb[..., :3], dtype=np.float32, order="C", copy=True)
        if not self.identity:
            flat = out.reshape(-1, 3)
            self._cpu.applyRGB(flat)
        return out


def _near_identity(cpu: Any) -> bool:
    grid = np.linspace(0.0, 1.0, 9, dtype=np.float32)
    cube = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), -1).reshape(-1, 3).copy()
    out = cube.copy()
    cpu.applyRGB(out)
    return float(np.abs(out - cube).max()) < 0.1 / 255


_processors: dict[tuple[str, ...], Processor] = {}


def _processor(config: Config, key: tuple[str, ...], make: Callable[[], Any]) -> Processor:
    full = (config.name,) + key
    with _lock:
        found = _processors.get(full)
    if found is None:
        try:
            found = Processor(make())
        except Exception as exc:
            raise ColourError(f"OCIO cannot build the transform {' -> '.join(key)} "
                              f"({str(exc).splitlines()[0]}); choose another colour space or view.") from None
        with _lock:
            _processors[full] = found
    return found


def converter(config: Config, source: str, target: str) -> Processor:
    """Colour space -> colour space (for exports)."""
    config.check_space(source)
    config.check_space(target)
    return _processor(config, ("convert", source, target),
                      lambda: config.ocio.getProcessor(source, target))


class DisplayView:
    """Input colour space -> display/view, as 8-bit RGB: what the canvas shows and the models see."""

    def __init__(self, config: Config, space: str, display: str | None = None, view: str | None = None):
        ocio = _ocio()
        default_display, default_view = config.default_display()
        self.config = config
        self.space = config.check_space(space)
        self.display = display or default_display
        if self.display not in config.displays():
            raise ColourError(f"display {self.display!r} is not in the OCIO config {config.name}; "
                              f"choose one of: {', '.join(config.displays())}.")
        views = config.views(self.display)
        self.view = view if view in views else (default_view if default_view in views else views[0])
        if view and view not in views:
            raise ColourError(f"view {view!r} is not offered for {self.display}; choose one of: "
                              f"{', '.join(views)}.")
        self.processor = _processor(
            config, ("view", self.space, self.display, self.view),
            lambda: config.ocio.getProcessor(self.space, self.display, self.view,
                                             ocio.TRANSFORM_DIR_FORWARD))

    @property
    def identity(self) -> bool:
        return self.processor.identity

    def key(self) -> tuple[str, str, str, str]:
        return (self.config.name, self.space, self.display, self.view)

    def to_float(self, image: np.ndarray) -> np.ndarray:
        """Native frame -> display-referred float32 RGB clamped to 0..1."""
        out = self.processor.apply(normalised(image))
        return np.clip(out, 0.0, 1.0, out=out)

    def from_display(self, rgb01: np.ndarray) -> np.ndarray:
        """Display-referred float RGB (0..1) -> the input colour space, float32 (normalised like
        `normalised`: uint16 plates as 0..1): the inverse view, for pixels made on the display image
        (clean-plate fills) that go back into the plate."""
        ocio = _ocio()
        inverse = _processor(self.config, ("view-inverse", self.space, self.display, self.view),
                             lambda: self.config.ocio.getProcessor(self.space, self.display, self.view,
                                                                   ocio.TRANSFORM_DIR_INVERSE))
        return inverse.apply(rgb01)

    def to_uint8(self, image: np.ndarray) -> np.ndarray:
        """Native frame (uint8 / uint16 / float, 3 or 4 channels) -> HxWx3 uint8 display RGB."""
        rgb = image[..., :3]
        if self.identity:
            if rgb.dtype == np.uint8:
                return np.ascontiguousarray(rgb)
            if rgb.dtype == np.uint16:
                return ((rgb.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
        out = self.to_float(rgb)
        return quantise8(out)


def normalised(image: np.ndarray) -> np.ndarray:
    """RGB as float32 with integer codes scaled to 0..1 (float data as it is)."""
    rgb = image[..., :3]
    if rgb.dtype == np.uint8:
        result: np.ndarray = rgb.astype(np.float32) * np.float32(1 / 255)
        return result
    if rgb.dtype == np.uint16:
        result = rgb.astype(np.float32) * np.float32(1 / 65535)
        return result
    out = rgb.astype(np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0, copy=False)


def quantise8(rgb01: np.ndarray) -> np.ndarray:
    result: np.ndarray = np.rint(np.clip(rgb01, 0.0, 1.0) * 255.0).astype(np.uint8)
    return result


def exr_attributes(config: Config, space: str) -> dict[str, Any]:
    """Header attributes naming a plate's colour space: `colorInteropID`, and `chromaticities` when
    the space is one of the linear ones OpenEXR knows primaries for."""
    import OpenEXR

    attrs: dict[str, object] = {"colorSpace": space}
    interop = config.interop_id(space)
    if interop and ":" not in interop:
        attrs["colorInteropID"] = interop
        try:
            chroma = OpenEXR.colorInteropIDToChromaticities(interop)
        except Exception:
            chroma = None
        if chroma:
            attrs["chromaticities"] = tuple(float(c) for c in chroma)
    return attrs
