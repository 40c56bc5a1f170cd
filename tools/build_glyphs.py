"""Builds the SDF glyph ranges the map style's labels are drawn with (MapLibre's glyphs
format: one protobuf per fontstack and 256-codepoint range) from DejaVu fonts on this
machine, into app/static/vendor/glyphs/<fontstack>/<start>-<end>.pbf.

    .venv/bin/python -m tools.build_glyphs [--fonts-dir /usr/share/fonts/truetype/dejavu]

No npm or PyPI package ships prebuilt glyph PBFs, so they are made here the way
mapbox/sdf-glyph-foundry makes them: glyphs at 24 px, a 3 px border, a signed distance
field of radius 8 px with the edge at 0.75 (value 191), metrics in whole pixels (top is
measured from the baseline, less 24). Shapes are rasterised by FreeType (Pillow) at 4x and
the distance field is an exact Euclidean distance transform (scipy), averaged down.
The output is deterministic: running it again writes the same bytes.
"""

from __future__ import annotations

import argparse
import math
import shutil
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "app" / "static" / "vendor" / "glyphs"
# Fontstack (as the style names it) -> font file.
FONTS = {
    "DejaVu Sans Book": "DejaVuSans.ttf",
    "DejaVu Sans Bold": "DejaVuSans-Bold.ttf",
    "DejaVu Sans Oblique": "DejaVuSans-Oblique.ttf",
}
RANGES = ((0, 255), (256, 511))  # Latin-1 and Latin Extended-A/B: every name the plan makes
SIZE = 24  # px: the size MapLibre's glyph metrics are in
BORDER = 3  # px of field around each glyph
RADIUS = 8.0  # px over which the field falls from 255 to 0
CUTOFF = 0.25  # the edge sits at 1 - CUTOFF of the range
SUPERSAMPLE = 4
MISSING = "\U0010fffd"  # a private-use codepoint no font has: renders as .notdef


def glyphs_message_class() -> type:
    """The `glyphs` message of MapLibre's glyphs.proto (package mapboxgl.glyphs)."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="glyphs.proto", package="mapboxgl.glyphs", syntax="proto2"
    )
    field = descriptor_pb2.FieldDescriptorProto
    required, optional, repeated = field.LABEL_REQUIRED, field.LABEL_OPTIONAL, field.LABEL_REPEATED
    glyph = proto.message_type.add(name="glyph")
    for name, number, kind, label in (
        ("id", 1, field.TYPE_UINT32, required),
        ("bitmap", 2, field.TYPE_BYTES, optional),
        ("width", 3, field.TYPE_UINT32, required),
        ("height", 4, field.TYPE_UINT32, required),
        ("left", 5, field.TYPE_SINT32, required),
        ("top", 6, field.TYPE_SINT32, required),
        ("advance", 7, field.TYPE_UINT32, required),
    ):
        glyph.field.add(name=name, number=number, type=kind, label=label)
    stack = proto.message_type.add(name="fontstack")
    stack.field.add(name="name", number=1, type=field.TYPE_STRING, label=required)
    stack.field.add(name="range", number=2, type=field.TYPE_STRING, label=required)
    stack.field.add(
        name="glyphs",
        number=3,
        type=field.TYPE_MESSAGE,
        label=repeated,
        type_name=".mapboxgl.glyphs.glyph",
    )
    glyphs = proto.message_type.add(name="glyphs")
    glyphs.field.add(
        name="stacks",
        number=1,
        type=field.TYPE_MESSAGE,
        label=repeated,
        type_name=".mapboxgl.glyphs.fontstack",
    )
    glyphs.extension_range.add(start=16, end=8192)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("mapboxgl.glyphs.glyphs"))


def _signed_distance(inside: np.ndarray) -> np.ndarray:
    """Distance to the outline in pixels of ``inside``'s grid, positive outside."""
    outside = ndimage.distance_transform_edt(~inside) - 0.5
    within = ndimage.distance_transform_edt(inside) - 0.5
    return np.where(inside, -within, outside)


def render_glyph(big: ImageFont.FreeTypeFont, small: ImageFont.FreeTypeFont, char: str) -> dict:
    """One glyph's metrics and SDF bitmap (sdf-glyph-foundry's conventions)."""
    s = SUPERSAMPLE
    advance = round(small.getlength(char))
    ink = _ink_box(big, char)
    if ink is None:
        return {"id": ord(char), "width": 0, "height": 0, "left": 0, "top": 0, "advance": advance}
    x0, y0, x1, y1 = ink
    # Whole pixels that hold all of the ink (y up from the baseline for `ascent`).
    left, ascent = math.floor(x0), math.ceil(-y0)
    width, height = math.ceil(x1) - left, ascent + math.ceil(y1)
    cols, rows = width + 2 * BORDER, height + 2 * BORDER
    image = Image.new("L", (cols * s, rows * s), 0)
    # The pen (left of the baseline) so that the bitmap's first row is `ascent + BORDER`
    # above the baseline and its first column `left - BORDER` right of the pen.
    origin = ((BORDER - left) * s, (BORDER + ascent) * s)
    ImageDraw.Draw(image).text(origin, char, font=big, fill=255, anchor="ls")
    distance = _signed_distance(np.asarray(image) >= 128) / s
    distance = distance.reshape(rows, s, cols, s).mean(axis=(1, 3))
    field = np.clip(np.round(255.0 - 256.0 * (distance / RADIUS + CUTOFF)), 0, 255)
    return {
        "id": ord(char),
        "bitmap": field.astype(np.uint8).tobytes(),
        "width": width,
        "height": height,
        "left": left,
        "top": ascent - SIZE,
        "advance": advance,
    }


def _drawn(big: ImageFont.FreeTypeFont, char: str) -> Image.Image:
    """``char`` drawn with its pen at (2 em, 2 em) of a 4 em canvas."""
    em = SIZE * SUPERSAMPLE
    image = Image.new("L", (4 * em, 4 * em), 0)
    ImageDraw.Draw(image).text((2 * em, 2 * em), char, font=big, fill=255, anchor="ls")
    return image


def _ink_box(big: ImageFont.FreeTypeFont, char: str) -> tuple[float, ...] | None:
    """(x0, y0, x1, y1) of the ink in 24 px units from the pen, y down; None if blank.
    (Pillow's getbbox spans the advance too, not only the ink.)"""
    box = _drawn(big, char).getbbox()
    if box is None:
        return None
    em = SIZE * SUPERSAMPLE
    return tuple((v - 2 * em) / SUPERSAMPLE for v in box)


def characters(big: ImageFont.FreeTypeFont, start: int, end: int) -> Iterator[str]:
    """The codepoints of a range that the font draws (not controls, not .notdef)."""
    notdef = _drawn(big, MISSING).tobytes()
    for code in range(start, end + 1):
        char = chr(code)
        if unicodedata.category(char) in ("Cc", "Cs", "Cn"):
            continue
        if char != " " and _drawn(big, char).tobytes() == notdef:
            continue
        yield char


def build(fonts_dir: Path, out: Path = OUT) -> list[Path]:
    glyphs_class = glyphs_message_class()
    written = []
    for fontstack, filename in FONTS.items():
        path = fonts_dir / filename
        big = ImageFont.truetype(str(path), SIZE * SUPERSAMPLE)
        small = ImageFont.truetype(str(path), SIZE)
        folder = out / fontstack
        folder.mkdir(parents=True, exist_ok=True)
        for start, end in RANGES:
            message = glyphs_class()
            stack = message.stacks.add(name=fontstack, range=f"{start}-{end}")
            for char in characters(big, start, end):
                stack.glyphs.add(**render_glyph(big, small, char))
            target = folder / f"{start}-{end}.pbf"
            target.write_bytes(message.SerializeToString(deterministic=True))
            written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fonts-dir", type=Path, default=Path("/usr/share/fonts/truetype/dejavu"))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    for path in build(args.fonts_dir, args.out):
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    licence = Path("/usr/share/doc/fonts-dejavu-core/copyright")
    if licence.exists():
        shutil.copy(licence, args.out / "LICENSE-DejaVu.txt")


if __name__ == "__main__":
    main()
