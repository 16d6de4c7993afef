"""Contact photos on every backend: upload rules, renditions, rights and file lifecycle.

A photo is sniffed from its bytes (PNG, JPEG, GIF, WebP; at most 1 MiB and 25 megapixels),
re-encoded as ``large`` (fits 200x300, never upscaled), ``medium`` (82x82) and ``small``
(40x40, both centre-cropped squares). Every refused kind raises a ``ValidationError`` naming
``photo`` and leaves no file and no row; replaced and removed photos' files go after commit.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image

from opencrm import (
    CRM,
    Conflict,
    InMemoryUserDirectory,
    LocalFileStore,
    NotConfigured,
    NotFound,
    PermissionDenied,
    User,
    ValidationError,
    hookimpl,
)
from opencrm.core.photos import MAX_BYTES, process_photo
from opencrm.storage.sqlalchemy.tables import contact_photos

USERS = [User(id="admin", crm_admin=True), User(id="alice"), User(id="bob")]

RED, BLUE = (255, 0, 0), (0, 0, 255)


# --- images -----------------------------------------------------------------------------------


def image(
    size: tuple[int, int],
    fmt: str = "PNG",
    mode: str = "RGB",
    color: Any = RED,
    **options: Any,
) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, fmt, **options)
    return buf.getvalue()


def decode(data: bytes) -> Image.Image:
    opened = Image.open(io.BytesIO(data))
    opened.load()
    return opened


def reddish(pixel: Any) -> bool:
    red, _, blue = pixel
    return bool(red > 200 and blue < 60)


def bluish(pixel: Any) -> bool:
    red, _, blue = pixel
    return bool(blue > 200 and red < 60)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bilevel_png(width: int, height: int) -> bytes:
    """A valid black 1-bit PNG, built by hand so that a huge canvas stays a small file."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


@functools.cache
def bomb() -> bytes:
    """20000 x 20000 pixels (400 megapixels) in about 50 KB."""
    return bilevel_png(20_000, 20_000)


@functools.cache
def noise_png(side: int) -> bytes:
    buf = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buf, "PNG")
    return buf.getvalue()


def truncated_png() -> bytes:
    data = noise_png(120)
    return data[: len(data) // 2]


REJECTED = {
    "svg": lambda: (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">'
        b"<script>alert(1)</script></svg>"
    ),
    "svg_without_prolog": lambda: b"  <svg onload='alert(1)' width='10' height='10'></svg>",
    "html": lambda: b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>",
    "plain_text": lambda: b"this is not a picture\n",
    "pdf": lambda: b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer <<>>\n%%EOF\n",
    "polyglot_png": lambda: b"\x89PNG\r\n\x1a\n<script>alert(1)</script>",
    "polyglot_png_in_a_real_image": lambda: (
        image((8, 8))[:33] + _chunk(b"tEXt", b"c\x00<script>alert(1)</script>") + image((8, 8))[33:]
    ),
    "polyglot_gif": lambda: b"GIF89a/*<script>alert(1)</script>*/",
    "truncated_png": truncated_png,
    "corrupt_png": lambda: b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20,
    "corrupt_jpeg": lambda: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x13" * 200,
    "gif_signature_png_body": lambda: b"GIF89a" + image((8, 8)),
    "too_big": lambda: noise_png(700),
    "decompression_bomb": bomb,
    "over_25_megapixels": lambda: bilevel_png(5001, 5000),
    "empty": lambda: b"",
}


# --- fixtures ---------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    @hookimpl
    def opencrm_event_committed(self, event):  # type: ignore[no-untyped-def]
        if event.name.startswith("contact.photo"):
            self.events.append(event)


class VetoPhotos:
    @hookimpl
    def opencrm_before_commit(self, events):  # type: ignore[no-untyped-def]
        if any(e.name.startswith("contact.photo") for e in events):
            raise Conflict("photos are frozen")


@pytest.fixture
def files_dir(tmp_path: Path) -> Path:
    return tmp_path / "files"


def make_crm(engine: sa.Engine, files_dir: Path, plugins: tuple[object, ...] = ()) -> CRM:
    return CRM(
        engine,
        load_entrypoints=False,
        directory=InMemoryUserDirectory(USERS),
        file_store=LocalFileStore(files_dir),
        plugins=plugins,
    )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def pcrm(engine: sa.Engine, files_dir: Path, recorder: Recorder) -> CRM:
    return make_crm(engine, files_dir, plugins=(recorder,))


@pytest.fixture
def s(pcrm: CRM) -> Any:
    return pcrm.session(USERS[1])


@pytest.fixture
def joe(s: Any) -> Any:
    return s.contacts.add_person("Joe", "Smith")


def on_disk(files_dir: Path) -> list[str]:
    return sorted(p.name for p in files_dir.iterdir())


def rows(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(contact_photos)).scalar())


def sizes(s: Any, contact_id: int) -> dict[str, tuple[str | None, tuple[int, int]]]:
    out = {}
    for size in ("large", "medium", "small"):
        pic = decode(s.contacts.photo(contact_id, size))
        out[size] = (pic.format, pic.size)
    return out


# --- renditions -------------------------------------------------------------------------------


def test_a_square_png_becomes_200x200_and_square_thumbnails(s, joe, files_dir, engine):
    photo = s.contacts.set_photo(joe.id, image((1000, 1000)))
    assert (photo.contact_id, photo.content_type, photo.width, photo.height) == (
        joe.id,
        "image/jpeg",
        200,
        200,
    )
    assert photo.updated_by == "alice"
    assert sizes(s, joe.id) == {
        "large": ("JPEG", (200, 200)),
        "medium": ("JPEG", (82, 82)),
        "small": ("JPEG", (40, 40)),
    }
    assert s.contacts.photo_info(joe.id) == photo
    assert on_disk(files_dir) == sorted(
        [photo.large_file_id, photo.medium_file_id, photo.small_file_id]
    )
    assert rows(engine) == 1
    assert s.contacts.photo(joe.id) == s.contacts.photo(joe.id, "large")


def test_a_tall_jpeg_fits_the_box(s, joe):
    photo = s.contacts.set_photo(joe.id, image((400, 1200), "JPEG"))
    assert (photo.width, photo.height) == (100, 300)
    assert sizes(s, joe.id) == {
        "large": ("JPEG", (100, 300)),
        "medium": ("JPEG", (82, 82)),
        "small": ("JPEG", (40, 40)),
    }


def test_a_wide_webp_fits_the_box(s, joe):
    photo = s.contacts.set_photo(joe.id, image((1000, 250), "WEBP"))
    assert (photo.content_type, photo.width, photo.height) == ("image/jpeg", 200, 50)


def test_a_small_image_is_not_upscaled(s, joe):
    photo = s.contacts.set_photo(joe.id, image((100, 50)))
    assert (photo.width, photo.height) == (100, 50)
    assert sizes(s, joe.id)["large"] == ("JPEG", (100, 50))
    # The thumbnails are fixed-size squares whatever the source.
    assert sizes(s, joe.id)["medium"] == ("JPEG", (82, 82))
    assert sizes(s, joe.id)["small"] == ("JPEG", (40, 40))


def test_thumbnails_are_centre_cropped(s, joe):
    # Red left and right quarters, blue middle: the centred square is all blue.
    src = Image.new("RGB", (400, 200), RED)
    src.paste(BLUE, (100, 0, 300, 200))
    buf = io.BytesIO()
    src.save(buf, "PNG")
    s.contacts.set_photo(joe.id, buf.getvalue())
    for size in ("medium", "small"):
        thumb = decode(s.contacts.photo(joe.id, size)).convert("RGB")
        for xy in [(0, 0), (thumb.width - 1, thumb.height - 1), (thumb.width // 2, 1)]:
            assert bluish(thumb.getpixel(xy)), (size, xy, thumb.getpixel(xy))
    large = decode(s.contacts.photo(joe.id)).convert("RGB")
    assert large.size == (200, 100)
    assert reddish(large.getpixel((2, 50)))


def test_transparency_keeps_png(s, joe):
    src = Image.new("RGBA", (300, 300), (*RED, 255))
    src.paste((0, 0, 0, 0), (0, 0, 150, 300))  # the left half is see-through
    buf = io.BytesIO()
    src.save(buf, "PNG")
    photo = s.contacts.set_photo(joe.id, buf.getvalue())
    assert (photo.content_type, photo.width, photo.height) == ("image/png", 200, 200)
    assert sizes(s, joe.id) == {
        "large": ("PNG", (200, 200)),
        "medium": ("PNG", (82, 82)),
        "small": ("PNG", (40, 40)),
    }
    for size in ("large", "medium", "small"):
        pic = decode(s.contacts.photo(joe.id, size))
        assert pic.mode == "RGBA"
        assert pic.getpixel((0, 0))[3] == 0  # type: ignore[index]
        assert pic.getpixel((pic.width - 1, 0))[3] == 255  # type: ignore[index]


def test_an_alpha_channel_that_is_fully_opaque_becomes_jpeg(s, joe):
    photo = s.contacts.set_photo(joe.id, image((120, 120), mode="RGBA", color=(*RED, 255)))
    assert photo.content_type == "image/jpeg"


def test_a_transparent_gif_keeps_png_and_an_animation_keeps_its_first_frame(s, joe):
    frames = [Image.new("P", (60, 60), 0) for _ in range(2)]
    for frame, color in zip(frames, (RED, BLUE), strict=True):
        frame.putpalette([*color, 0, 255, 0] + [0] * 762)
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    photo = s.contacts.set_photo(joe.id, buf.getvalue())
    assert photo.content_type == "image/jpeg"
    first = decode(s.contacts.photo(joe.id)).convert("RGB")
    assert first.size == (60, 60)
    assert reddish(first.getpixel((30, 30)))

    clear = Image.new("P", (60, 60), 1)
    clear.putpalette([*RED, 0, 255, 0] + [0] * 762)
    buf = io.BytesIO()
    clear.save(buf, "GIF", transparency=1)
    assert s.contacts.set_photo(joe.id, buf.getvalue()).content_type == "image/png"


def test_exif_orientation_is_applied_and_metadata_dropped(s, joe):
    # Stored 100x50, red left half, blue right half; orientation 6 = turn 90 degrees clockwise.
    src = Image.new("RGB", (100, 50), RED)
    src.paste(BLUE, (50, 0, 100, 50))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "SecretCam"  # Make
    buf = io.BytesIO()
    src.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    photo = s.contacts.set_photo(joe.id, buf.getvalue() + b"trailing-payload")
    assert (photo.width, photo.height) == (50, 100)
    large_bytes = s.contacts.photo(joe.id)
    large = decode(large_bytes).convert("RGB")
    assert large.size == (50, 100)
    top, bottom = large.getpixel((25, 10)), large.getpixel((25, 90))
    assert reddish(top), top
    assert bluish(bottom), bottom
    for size in ("large", "medium", "small"):
        data = s.contacts.photo(joe.id, size)
        assert not decode(data).getexif()
        assert b"SecretCam" not in data
        assert b"trailing-payload" not in data


def test_a_binary_stream_is_accepted(s, joe):
    photo = s.contacts.set_photo(joe.id, io.BytesIO(image((300, 300), "JPEG")))
    assert (photo.width, photo.height) == (200, 200)


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(REJECTED))
def test_a_refused_upload_stores_nothing(s, joe, files_dir, engine, recorder, kind):
    before = on_disk(files_dir)
    with pytest.raises(ValidationError) as caught:
        s.contacts.set_photo(joe.id, REJECTED[kind]())
    assert list(caught.value.errors) == ["photo"]
    assert on_disk(files_dir) == before == []
    assert rows(engine) == 0
    assert s.contacts.photo_info(joe.id) is None
    assert recorder.events == []


@pytest.mark.parametrize("kind", sorted(REJECTED))
def test_a_refused_upload_keeps_the_previous_photo(s, joe, files_dir, engine, kind):
    previous = s.contacts.set_photo(joe.id, image((300, 300)))
    before = on_disk(files_dir)
    old_bytes = s.contacts.photo(joe.id)
    with pytest.raises(ValidationError) as caught:
        s.contacts.set_photo(joe.id, REJECTED[kind]())
    assert "photo" in caught.value.errors
    assert on_disk(files_dir) == before
    assert rows(engine) == 1
    assert s.contacts.photo_info(joe.id) == previous
    assert s.contacts.photo(joe.id) == old_bytes


def test_refusal_reasons_are_readable(s, joe):
    reasons = {}
    for kind in ("svg", "too_big", "decompression_bomb", "over_25_megapixels", "truncated_png"):
        with pytest.raises(ValidationError) as caught:
            s.contacts.set_photo(joe.id, REJECTED[kind]())
        reasons[kind] = caught.value.errors["photo"]
    assert reasons == {
        "svg": "is of a type that is not accepted (image/svg+xml)",
        "too_big": f"is larger than the limit of {MAX_BYTES} bytes",
        "decompression_bomb": "has more pixels than the 25 megapixels accepted",
        "over_25_megapixels": "is 5001x5000 pixels, has more pixels than the 25 megapixels "
        "accepted",
        "truncated_png": "is not a readable image (corrupt or truncated)",
    }


def test_a_stream_over_the_limit_is_not_read_in_full(s, joe, files_dir):
    stream = io.BytesIO(image((10, 10)) + b"\x00" * (2 * MAX_BYTES))
    with pytest.raises(ValidationError):
        s.contacts.set_photo(joe.id, stream)
    assert stream.tell() == MAX_BYTES + 1
    assert on_disk(files_dir) == []


@pytest.mark.parametrize("data", [None, 42, "a string", io.StringIO("text")])
def test_anything_but_bytes_or_a_binary_stream_is_refused(s, joe, files_dir, data):
    with pytest.raises(ValidationError) as caught:
        s.contacts.set_photo(joe.id, data)
    assert list(caught.value.errors) == ["photo"]
    assert on_disk(files_dir) == []


# --- replacing, removing, deleting ------------------------------------------------------------


def test_replacing_a_photo_deletes_the_old_files_after_commit(s, joe, files_dir, engine, recorder):
    first = s.contacts.set_photo(joe.id, image((300, 300)))
    old = {first.large_file_id, first.medium_file_id, first.small_file_id}
    assert set(on_disk(files_dir)) == old
    second = s.contacts.set_photo(joe.id, image((100, 200), color=BLUE))
    new = {second.large_file_id, second.medium_file_id, second.small_file_id}
    assert not old & new
    assert set(on_disk(files_dir)) == new
    assert rows(engine) == 1
    assert s.contacts.photo_info(joe.id) == second
    assert [(e.name, e.entity_id, dict(e.data)) for e in recorder.events] == [
        (
            "contact.photo_changed",
            joe.id,
            {"content_type": "image/jpeg", "width": 200, "height": 200, "replaced": False},
        ),
        (
            "contact.photo_changed",
            joe.id,
            {"content_type": "image/jpeg", "width": 100, "height": 200, "replaced": True},
        ),
    ]


def test_a_rolled_back_change_keeps_the_old_photo_and_leaves_no_new_file(engine, files_dir, s, joe):
    first = s.contacts.set_photo(joe.id, image((300, 300)))
    before = on_disk(files_dir)
    frozen = make_crm(engine, files_dir, plugins=(VetoPhotos(),)).session(USERS[1])
    with pytest.raises(Conflict):
        frozen.contacts.set_photo(joe.id, image((50, 50), color=BLUE))
    assert on_disk(files_dir) == before
    assert s.contacts.photo_info(joe.id) == first
    with pytest.raises(Conflict):
        frozen.contacts.remove_photo(joe.id)
    assert on_disk(files_dir) == before
    assert s.contacts.photo_info(joe.id) == first


def test_remove_photo(s, joe, files_dir, engine, recorder):
    s.contacts.remove_photo(joe.id)  # nothing to remove: a no-op
    assert recorder.events == []
    s.contacts.set_photo(joe.id, image((300, 300)))
    s.contacts.remove_photo(joe.id)
    assert s.contacts.photo_info(joe.id) is None
    assert on_disk(files_dir) == []
    assert rows(engine) == 0
    with pytest.raises(NotFound) as caught:
        s.contacts.photo(joe.id)
    assert caught.value.entity == "photo"
    assert [e.name for e in recorder.events] == ["contact.photo_changed", "contact.photo_removed"]
    s.contacts.remove_photo(joe.id)
    assert len(recorder.events) == 2


def test_deleting_the_contact_deletes_the_photo_row_and_files(s, joe, files_dir, engine):
    other = s.contacts.add_person("Ann")
    s.contacts.set_photo(joe.id, image((300, 300)))
    kept = s.contacts.set_photo(other.id, image((300, 300), color=BLUE))
    s.contacts.delete(joe.id)
    assert rows(engine) == 1
    assert on_disk(files_dir) == sorted(
        [kept.large_file_id, kept.medium_file_id, kept.small_file_id]
    )


def test_photo_sizes_are_checked(s, joe):
    s.contacts.set_photo(joe.id, image((300, 300)))
    with pytest.raises(ValidationError) as caught:
        s.contacts.photo(joe.id, "huge")
    assert list(caught.value.errors) == ["size"]


def test_photo_of_a_contact_without_one_is_not_found(s, joe):
    assert s.contacts.photo_info(joe.id) is None
    with pytest.raises(NotFound):
        s.contacts.photo(joe.id, "small")


# --- rights and configuration -----------------------------------------------------------------


def test_rights_follow_the_contact(pcrm, s, files_dir):
    bob = pcrm.session(USERS[2])
    admin = pcrm.session(USERS[0])
    readable = s.contacts.add_person("Read", "Only", access="read")
    private = s.contacts.add_person("Very", "Private", access="private")
    photo = s.contacts.set_photo(readable.id, image((300, 300)))
    s.contacts.set_photo(private.id, image((300, 300)))
    before = on_disk(files_dir)

    with pytest.raises(PermissionDenied):
        bob.contacts.set_photo(readable.id, image((300, 300)))
    with pytest.raises(PermissionDenied):
        bob.contacts.remove_photo(readable.id)
    assert bob.contacts.photo_info(readable.id) == photo
    assert bob.contacts.photo(readable.id, "small") == s.contacts.photo(readable.id, "small")

    for call in (
        lambda: bob.contacts.set_photo(private.id, image((300, 300))),
        lambda: bob.contacts.photo_info(private.id),
        lambda: bob.contacts.photo(private.id),
        lambda: bob.contacts.remove_photo(private.id),
        lambda: bob.contacts.set_photo(999_999, image((300, 300))),
        lambda: bob.contacts.photo_info(999_999),
    ):
        with pytest.raises(NotFound):
            call()
    # Rights are checked before the upload is looked at.
    with pytest.raises(NotFound):
        bob.contacts.set_photo(private.id, b"<svg/>")
    with pytest.raises(PermissionDenied):
        bob.contacts.set_photo(readable.id, b"<svg/>")
    assert on_disk(files_dir) == before

    by_admin = admin.contacts.set_photo(private.id, image((100, 100)))
    assert by_admin.updated_by == "admin"
    writable = s.contacts.add_person("Shared", access="read_write")
    assert bob.contacts.set_photo(writable.id, image((100, 100))).updated_by == "bob"


def test_without_a_file_store_photos_are_not_configured(crm, admin):
    joe = admin.contacts.add_person("Joe")
    with pytest.raises(NotConfigured):
        admin.contacts.set_photo(joe.id, image((100, 100)))
    with pytest.raises(NotConfigured):
        admin.contacts.photo(joe.id)
    with pytest.raises(NotConfigured):
        admin.contacts.remove_photo(joe.id)
    assert admin.contacts.photo_info(joe.id) is None
    assert crm.file_store is None


# --- the pure rules (no storage) --------------------------------------------------------------


def test_process_photo_16_bit_greyscale_is_scaled_not_clipped():
    buf = io.BytesIO()
    Image.new("I;16", (50, 50), 32768).save(buf, "PNG")
    out = process_photo(buf.getvalue())
    value = decode(out.large).convert("L").getpixel((25, 25))
    assert 120 <= value <= 136  # type: ignore[operator]


def test_process_photo_extreme_aspect_ratios():
    assert (
        process_photo(bilevel_png(3000, 1)).width,
        process_photo(bilevel_png(3000, 1)).height,
    ) == (
        200,
        1,
    )
    tall = process_photo(bilevel_png(2, 3000))
    assert (tall.width, tall.height) == (1, 300)
    assert decode(tall.small).size == (40, 40)


def test_process_photo_palette_transparency_that_is_unused_becomes_jpeg(recwarn):
    pal = Image.new("P", (20, 20), 0)
    pal.putpalette([*RED, *BLUE] + [0] * 762)
    buf = io.BytesIO()
    pal.save(buf, "PNG", transparency=bytes([255, 0]))
    out = process_photo(buf.getvalue())
    assert out.content_type == "image/jpeg"
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]
