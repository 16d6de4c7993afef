"""Contact photos: what an uploaded image becomes before anything is stored.

Storage-free. :func:`process_photo` takes the upload (bytes or a binary stream) and returns
three re-encoded renditions, or raises :class:`~opencrm.errors.ValidationError` under the
``photo`` key; it never lets a Pillow exception through. The rules:

- at most :data:`MAX_BYTES` (1 MiB); a stream is read up to one byte past that, never more;
- the type is sniffed from the bytes (:func:`opencrm.core.files.check_upload`), never taken
  from a name: PNG, JPEG, GIF and WebP only, so SVG, HTML, text, PDF and polyglots (an image
  signature with markup behind it) are refused;
- the header's size is checked before any pixel is decoded: at most :data:`MAX_PIXELS`
  (25 megapixels), so a small file declaring a huge canvas (a decompression bomb) is refused
  without allocating it; Pillow must read the file as the sniffed format, and a truncated or
  corrupt file is refused;
- the EXIF orientation is applied; of an animation only the first frame is kept;
- ``large`` fits within :data:`LARGE_BOX` (200x300) keeping the aspect ratio and is never
  upscaled; ``medium`` (82x82) and ``small`` (40x40) are square thumbnails, always exactly
  that size: the image is centre-cropped to a square and scaled to fit it (an image smaller
  than the square is scaled up, so a thumbnail always fills its fixed-size slot);
- all three are re-encoded from the decoded pixels, which drops every metadata chunk (EXIF,
  GPS, ICC profile, comments) and anything appended to the file: PNG when the image has
  transparency (at least one pixel not fully opaque), otherwise JPEG (RGB, quality 85).
"""

from __future__ import annotations

import io
import struct
from typing import IO

import attrs
from PIL import Image, ImageOps, UnidentifiedImageError

from opencrm.core.files import GIF, JPEG, PNG, WEBP, check_upload
from opencrm.errors import ValidationError

__all__ = [
    "ACCEPTED_TYPES",
    "LARGE_BOX",
    "MAX_BYTES",
    "MAX_PIXELS",
    "MEDIUM_SIZE",
    "SIZES",
    "SMALL_SIZE",
    "Renditions",
    "process_photo",
    "reencode_image",
]

#: The largest accepted upload: 1 MiB.
MAX_BYTES = 1_048_576
#: The largest accepted canvas (width x height), checked before decoding.
MAX_PIXELS = 25_000_000
#: The box the ``large`` rendition fits in (width, height).
LARGE_BOX = (200, 300)
#: The side of the square ``medium`` and ``small`` thumbnails.
MEDIUM_SIZE = 82
SMALL_SIZE = 40
#: The rendition names, as :meth:`ContactService.photo` takes them.
SIZES = ("large", "medium", "small")
#: The image types accepted (sniffed).
ACCEPTED_TYPES = frozenset({PNG, JPEG, GIF, WEBP})

_FIELD = "photo"
_PILLOW_FORMAT = {PNG: "PNG", JPEG: "JPEG", GIF: "GIF", WEBP: "WEBP"}
# What Pillow may call a file its decoder opened (a camera's multi-picture JPEG reads as MPO).
_READ_AS = {PNG: {"PNG"}, JPEG: {"JPEG", "MPO"}, GIF: {"GIF"}, WEBP: {"WEBP"}}
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_JPEG_QUALITY = 85
_TOO_MANY_PIXELS = f"has more pixels than the {MAX_PIXELS // 1_000_000} megapixels accepted"
# Pillow's own reasons to refuse a file; any of them means "not a usable image".
_DECODE_ERRORS = (
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    EOFError,
    struct.error,
    MemoryError,
)


@attrs.frozen(kw_only=True)
class Renditions:
    """The three encoded renditions of a photo, all of ``content_type``; ``width`` and
    ``height`` are the ``large`` one's (the thumbnails are squares of :data:`MEDIUM_SIZE` and
    :data:`SMALL_SIZE`)."""

    large: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")
    medium: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")
    small: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")
    content_type: str
    width: int
    height: int


def process_photo(data: bytes | IO[bytes]) -> Renditions:
    """Check an uploaded photo and render it (see the module docs for the rules); raise
    :class:`~opencrm.errors.ValidationError` with a ``photo`` entry for anything refused."""
    raw = _read(data)
    kind = check_upload(raw, max_bytes=MAX_BYTES, allowed=ACCEPTED_TYPES, field=_FIELD)
    try:
        return _render(_decode(raw, kind))
    except ValidationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationError({_FIELD: _TOO_MANY_PIXELS}) from None
    except _DECODE_ERRORS:
        raise ValidationError({_FIELD: "is not a readable image (corrupt or truncated)"}) from None


def reencode_image(
    data: bytes,
    *,
    field: str,
    accepted: frozenset[str],
    max_bytes: int,
    box: tuple[int, int],
) -> bytes:
    """An uploaded image checked like a photo (sniffed type in ``accepted``, at most
    ``max_bytes`` and :data:`MAX_PIXELS`, fully decodable) and re-encoded from its pixels,
    scaled down to fit ``box``: a PNG stays a PNG (lossless, as logos and drawings need),
    anything else with transparency becomes one, the rest JPEG. What comes back is
    an image every renderer reads, with no metadata and nothing behind the pixels; anything
    refused is a :class:`~opencrm.errors.ValidationError` under ``field``."""
    kind = check_upload(data, max_bytes=max_bytes, allowed=accepted, field=field)
    try:
        image, transparent = _normalise(_decode(data, kind, field))
        resized = _resize(image, _fit(image.width, image.height, *box))
        return _encode(resized, as_png=transparent or kind == PNG)
    except ValidationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationError({field: _TOO_MANY_PIXELS}) from None
    except _DECODE_ERRORS:
        raise ValidationError({field: "is not a readable image (corrupt or truncated)"}) from None


def _read(data: object) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    read = getattr(data, "read", None)
    if read is None:
        raise ValidationError({_FIELD: "must be bytes or a binary stream"})
    # One byte past the limit is enough to know it is too large; never read more.
    raw = read(MAX_BYTES + 1)
    if not isinstance(raw, bytes):
        raise ValidationError({_FIELD: "must be a binary stream (opened with 'rb')"})
    return raw


def _decode(raw: bytes, kind: str, field: str = _FIELD) -> Image.Image:
    """The first frame, fully decoded and turned upright, as an independent image."""
    expected = _PILLOW_FORMAT[kind]
    # Only the decoder of the sniffed type may read the file.
    with Image.open(io.BytesIO(raw), formats=[expected]) as opened:
        if opened.format not in _READ_AS[kind]:
            raise ValidationError({field: f"is not a valid {kind} image"})
        width, height = opened.size
        if width < 1 or height < 1:
            raise ValidationError({field: "has no pixels"})
        if width * height > MAX_PIXELS:
            raise ValidationError({field: f"is {width}x{height} pixels, {_TOO_MANY_PIXELS}"})
        opened.seek(0)  # the first frame of an animation
        opened.load()
        upright = ImageOps.exif_transpose(opened)
        frame = upright if upright is not None else opened.copy()
    if frame.mode in ("I", "F") or frame.mode.startswith("I;16"):
        # 16-bit greyscale: scale to 8 bits instead of clipping everything above 255 to white.
        frame = frame.convert("I").point(lambda v: v / 256).convert("L")
    return frame


def _render(image: Image.Image) -> Renditions:
    image, transparent = _normalise(image)
    width, height = _fit(image.width, image.height, *LARGE_BOX)
    large = _resize(image, (width, height))
    medium = _square(image, MEDIUM_SIZE)
    small = _square(image, SMALL_SIZE)
    return Renditions(
        large=_encode(large, transparent),
        medium=_encode(medium, transparent),
        small=_encode(small, transparent),
        content_type=PNG if transparent else JPEG,
        width=width,
        height=height,
    )


def _normalise(image: Image.Image) -> tuple[Image.Image, bool]:
    """The image as RGBA when some pixel is not fully opaque (True), else as RGB (False)."""
    if image.mode not in _ALPHA_MODES and "transparency" not in image.info:
        return image.convert("RGB"), False
    # Via RGBA also for palette transparency, which Pillow will not drop silently.
    rgba = image.convert("RGBA")
    low, _ = rgba.getchannel("A").getextrema()
    if isinstance(low, (int, float)) and low < 255:
        return rgba, True
    return rgba.convert("RGB"), False


def _fit(width: int, height: int, box_width: int, box_height: int) -> tuple[int, int]:
    """The size of ``width`` x ``height`` scaled down to fit the box, aspect ratio kept."""
    scale = min(box_width / width, box_height / height, 1.0)
    return (
        min(box_width, max(1, round(width * scale))),
        min(box_height, max(1, round(height * scale))),
    )


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image.copy()
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _square(image: Image.Image, side: int) -> Image.Image:
    """The centred square of the image scaled to ``side`` x ``side``."""
    width, height = image.size
    edge = min(width, height)
    left, top = (width - edge) // 2, (height - edge) // 2
    return image.resize(
        (side, side),
        Image.Resampling.LANCZOS,
        box=(left, top, left + edge, top + edge),
        reducing_gap=3.0,
    )


def _encode(image: Image.Image, as_png: bool) -> bytes:
    image.info = {}  # no ICC profile, EXIF or text chunk is carried over
    out = io.BytesIO()
    if as_png:
        image.save(out, "PNG", optimize=True)
    else:
        image.save(out, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    return out.getvalue()
