"""Images that carry script are refused as attachments, and an organisation logo is decoded
and re-encoded on upload, on every backend; a refused upload stores nothing."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from opencrm import CRM, InMemoryUserDirectory, LocalFileStore, User, ValidationError

USERS = [User(id="admin", crm_admin=True), User(id="alice")]
PHP = b"<?php system($_GET['c']); ?>"
SCRIPT = b"<script>alert(document.cookie)</script>"
POLYGLOT = {"file": "carries markup behind its signature (a polyglot file)"}


def _image(fmt: str, **save: Any) -> bytes:
    out = io.BytesIO()
    picture = Image.new("RGB", (16, 12), (200, 40, 40))
    if fmt == "GIF":
        picture = picture.convert("P")
    picture.save(out, fmt, **save)
    return out.getvalue()


def _png_with_text(payload: bytes) -> bytes:
    info = PngInfo()
    info.add_text("Comment", payload.decode())
    return _image("PNG", pnginfo=info)


CLEAN = {"gif": _image("GIF"), "png": _image("PNG"), "jpeg": _image("JPEG")}
POLYGLOTS = {
    **{f"{k} + php appended": v + PHP for k, v in CLEAN.items()},
    **{f"{k} + script appended": v + SCRIPT for k, v in CLEAN.items()},
    "gif comment php": _image("GIF", comment=PHP),
    "gif comment script": _image("GIF", comment=SCRIPT.upper()),
    "png text chunk php": _png_with_text(PHP),
    "jpeg comment php": _image("JPEG", comment=PHP),
    "jpeg comment script": _image("JPEG", comment=SCRIPT),
}


@pytest.fixture
def fcrm(engine: sa.Engine, tmp_path: Path) -> CRM:
    return CRM(
        engine,
        load_entrypoints=False,
        directory=InMemoryUserDirectory(USERS),
        file_store=LocalFileStore(tmp_path / "files"),
    )


def _stored(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize("case", sorted(POLYGLOTS))
def test_image_polyglots_are_refused_as_attachments(fcrm: CRM, tmp_path: Path, case: str):
    s = fcrm.session(USERS[1])
    joe = s.contacts.add_person("Joe")
    event = s.history.add("Note", "Note", contact=joe)
    case_ = s.cases.add("Broken pump")
    data = POLYGLOTS[case]
    assert Image.open(io.BytesIO(data)).size == (16, 12)  # a valid image all the same
    with pytest.raises(ValidationError) as info:
        s.history.attach(event.id, data, "photo.gif")
    assert info.value.errors == POLYGLOT
    with pytest.raises(ValidationError) as info:
        s.cases.attach(case_.id, data, "photo.gif")
    assert info.value.errors == POLYGLOT
    with pytest.raises(ValidationError):
        s.history.add("Note", "Note", contact=joe, files=[("x.png", data)])
    assert _stored(tmp_path / "files") == []
    assert s.history.get(event.id).files == ()
    assert s.cases.documents(case_.id) == []


@pytest.mark.parametrize("kind", sorted(CLEAN))
def test_clean_images_are_still_accepted(fcrm: CRM, kind: str):
    s = fcrm.session(USERS[1])
    event = s.history.add("Note", "Note", contact=s.contacts.add_person("Joe"))
    stored = s.history.attach(event.id, CLEAN[kind], f"x.{kind}")
    assert stored.content_type == f"image/{kind}"


def test_a_logo_is_re_encoded_and_a_broken_one_refused(fcrm: CRM):
    admin = fcrm.session(USERS[0])
    png = _image("PNG")
    org = admin.invoices.set_organisation(logo=png)
    assert org.logo is not None
    assert org.logo != png
    with Image.open(io.BytesIO(org.logo)) as back:
        assert (back.format, back.size) == ("PNG", (16, 12))  # a PNG stays a PNG
    jpeg = admin.invoices.set_organisation(logo=_image("JPEG", comment=b"taken 2024")).logo
    with Image.open(io.BytesIO(jpeg)) as back:
        assert (back.format, back.size, "comment" in back.info) == ("JPEG", (16, 12), False)
    big = io.BytesIO()
    Image.new("RGBA", (3000, 100), (0, 0, 0, 0)).save(big, "PNG")
    org = admin.invoices.set_organisation(logo=big.getvalue())
    with Image.open(io.BytesIO(org.logo)) as back:
        assert (back.format, back.size) == ("PNG", (1200, 40))  # scaled to fit, alpha kept
    before = admin.invoices.organisation()
    for bad, reason in (
        (png[: len(png) // 2], "is not a readable image (corrupt or truncated)"),
        (png[:40], "is not a readable image (corrupt or truncated)"),
        (png + PHP, "carries markup behind its signature (a polyglot file)"),
        (_image("JPEG", comment=SCRIPT), "carries markup behind its signature (a polyglot file)"),
        (_image("GIF"), "must be a PNG or JPEG image"),
        (b"\x89PNG\r\n\x1a\nrest", "is not a readable image (corrupt or truncated)"),
    ):
        with pytest.raises(ValidationError) as info:
            admin.invoices.set_organisation(logo=bad)
        assert info.value.errors == {"logo": reason}
    assert admin.invoices.organisation() == before
    joe = admin.contacts.add_company("Client")
    invoice = admin.invoices.add(client=joe, lines=[admin.invoices.line("x", price="1")])
    assert admin.invoices.document(invoice.id).seller.logo == before.logo
