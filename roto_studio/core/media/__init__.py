"""Media: videos (PyAV), image sequences and single stills, read frame-exactly by frame number.

open_media(path) accepts
- a video file (mp4, mov, mkv, ... anything FFmpeg decodes); frames are numbered 0..n-1;
- an image sequence given as a pattern: `plate.####.exr`, `plate.@@@@.exr`, `plate.%04d.exr`
  (`#`/`@` = one digit each, `%d` = unpadded), keeping the plate's own numbers (1001...);
- a folder of numbered images (the one sequence in it);
- a single image file: a one-frame shot. Its frame number comes from the name when the name ends
  in a frame number (`plate.1001.exr` -> 1001, `00042.png` -> 42), else 0. Siblings are not
  pulled in silently: give the pattern or the folder to open the whole sequence
  (`sequence_pattern_for(path)` finds that pattern so a UI can offer it).

Frames come back as HxWx3 uint8 RGB from read() (cached, read-only arrays: copy before editing)
and in their native precision from read_full() (uint8, uint16 for 10/12/16-bit, float32 for
half/float EXR; 3 or 4 channels). Float (EXR) frames are scene-linear: read() shows them through
the sRGB curve, read_full() returns the raw values.

Sequences: gaps are listed in missing_frames (reading one raises MediaError naming the gaps); a
frame of another size raises MediaError when read; a frame of another bit depth reads for display
but read_full() refuses it when the sequence is deeper (exports would mix precisions).
Videos: one demux pass at open builds the pts table; a read seeks to the keyframe the frame needs
and decodes forward (skipping unreferenced frames), playing forward never re-seeks, and the last
few decoded frames are kept so stepping back is instant. A file cut short opens with what it has
and says so in `warnings`.
"""

from roto_studio.core.media.cache import FrameCache
from roto_studio.core.media.display import to_display_uint8
from roto_studio.core.media.files import (
    DEFAULT_SEQUENCE_FPS, IMAGE_EXTENSIONS, MAX_PIXELS, MAX_SIDE, MIN_SIDE, MiB,
)
from roto_studio.core.media.front import Media, open_media
from roto_studio.core.media.images import read_image
from roto_studio.core.media.patterns import SequencePattern, parse_pattern, sequence_pattern_for

__all__ = ["Media", "open_media", "parse_pattern", "sequence_pattern_for", "SequencePattern",
           "IMAGE_EXTENSIONS", "MAX_SIDE", "MAX_PIXELS", "MIN_SIDE", "DEFAULT_SEQUENCE_FPS", "MiB",
           "read_image", "to_display_uint8", "FrameCache"]
