"""Files (FileStore port, LocalFileStore) and case documents, on every backend.

A refused upload leaves no file on disk and no row; a removal deletes the file only after it
committed; deleting a case deletes its documents' files.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from opencrm import (
    CRM,
    Conflict,
    InMemoryUserDirectory,
    LocalFileStore,
    NotConfigured,
    NotFound,
    User,
    ValidationError,
    hookimpl,
)
from opencrm.core.files import sniff
from opencrm.storage.sqlalchemy.tables import case_documents

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
LIMIT = 4096

USERS = [User(id="admin", crm_admin=True), User(id="alice"), User(id="bob")]


def _docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<?xml version='1.0'?><Types/>")
        z.writestr("word/document.xml", "<?xml version='1.0'?><w:document/>")
    return buf.getvalue()


@pytest.fixture
def files_dir(tmp_path: Path) -> Path:
    return tmp_path / "files"


def make_crm(engine: sa.Engine, files_dir: Path, plugins: tuple[object, ...] = ()) -> CRM:
    return CRM(
        engine,
        load_entrypoints=False,
        directory=InMemoryUserDirectory(USERS),
        file_store=LocalFileStore(files_dir, max_bytes=LIMIT),
        plugins=plugins,
    )


@pytest.fixture
def fcrm(engine: sa.Engine, files_dir: Path) -> CRM:
    return make_crm(engine, files_dir)


@pytest.fixture
def s(fcrm: CRM) -> Any:
    return fcrm.session(USERS[1])


def on_disk(files_dir: Path) -> list[str]:
    return sorted(p.name for p in files_dir.iterdir())


def rows(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(case_documents)).scalar())


def test_attach_list_open_remove(s, files_dir, engine):
    case = s.cases.add("Claim 7")
    doc = s.cases.attach(case.id, PDF, "claim.pdf")
    assert (doc.case_id, doc.name, doc.content_type, doc.size) == (
        case.id,
        "claim.pdf",
        "application/pdf",
        len(PDF),
    )
    assert doc.created_by == "alice"
    assert s.cases.documents(case.id) == [doc]
    assert s.cases.open_document(case.id, doc.id) == PDF
    assert on_disk(files_dir) == [doc.file_id]
    assert "claim" not in doc.file_id
    s.cases.remove_document(case.id, doc.id)
    assert s.cases.documents(case.id) == []
    assert on_disk(files_dir) == []
    assert rows(engine) == 0
    with pytest.raises(NotFound):
        s.cases.open_document(case.id, doc.id)


def test_type_comes_from_the_bytes_and_the_name_is_only_a_name(s):
    case = s.cases.add("Claim 7")
    png = s.cases.attach(case.id, PNG, "../../etc/looks-like.pdf")
    assert (png.name, png.content_type) == ("looks-like.pdf", "image/png")
    word = s.cases.attach(case.id, io.BytesIO(_docx()), "letter.bin")
    assert word.content_type.endswith("wordprocessingml.document")
    text = s.cases.attach(case.id, "Grüße, plain text\n".encode(), "notes.html")
    assert text.content_type == "text/plain"


REJECTED = {
    "empty": b"",
    "too_big": PDF + b"x" * LIMIT,
    "svg": b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>',
    "svg_without_prolog": b"  <svg onload='alert(1)'></svg>",
    "html": b"<!DOCTYPE html><html><body>hi</body></html>",
    "html_fragment": b"hello <script>alert(1)</script>",
    "polyglot_gif": b"GIF89a/*<script>alert(1)</script>*/",
    "executable": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff",
    "unknown_binary": bytes(range(256)),
}


@pytest.mark.parametrize("kind", sorted(REJECTED))
def test_a_refused_upload_leaves_no_file_and_no_row(s, files_dir, engine, kind):
    case = s.cases.add("Claim 7")
    with pytest.raises(ValidationError):
        s.cases.attach(case.id, REJECTED[kind], f"{kind}.pdf")
    assert on_disk(files_dir) == []
    assert rows(engine) == 0
    assert s.cases.documents(case.id) == []


def test_a_streamed_upload_over_the_limit_is_refused_without_reading_it_all(s, files_dir):
    case = s.cases.add("Claim 7")
    stream = io.BytesIO(PDF + b"x" * (10 * LIMIT))
    with pytest.raises(ValidationError):
        s.cases.attach(case.id, stream, "big.pdf")
    assert stream.tell() == LIMIT + 1
    assert on_disk(files_dir) == []


class VetoDocuments:
    @hookimpl
    def opencrm_before_commit(self, events):
        if any(e.name in ("case.document_added", "case.document_removed") for e in events):
            raise Conflict("documents are frozen")


def test_a_rolled_back_attach_leaves_no_file(engine, files_dir, fcrm):
    case = fcrm.session(USERS[1]).cases.add("Claim 7")
    frozen = make_crm(engine, files_dir, plugins=(VetoDocuments(),))
    with pytest.raises(Conflict):
        frozen.session(USERS[1]).cases.attach(case.id, PDF, "claim.pdf")
    assert on_disk(files_dir) == []
    assert rows(engine) == 0


def test_a_rolled_back_removal_keeps_the_file(engine, files_dir, s):
    case = s.cases.add("Claim 7")
    doc = s.cases.attach(case.id, PDF, "claim.pdf")
    frozen = make_crm(engine, files_dir, plugins=(VetoDocuments(),))
    with pytest.raises(Conflict):
        frozen.session(USERS[1]).cases.remove_document(case.id, doc.id)
    assert on_disk(files_dir) == [doc.file_id]
    assert s.cases.open_document(case.id, doc.id) == PDF


def test_deleting_a_case_deletes_its_files_after_commit(s, files_dir, engine):
    case = s.cases.add("Claim 7")
    other = s.cases.add("Claim 8")
    s.cases.attach(case.id, PDF, "a.pdf")
    s.cases.attach(case.id, PNG, "b.png")
    kept = s.cases.attach(other.id, PDF, "c.pdf")
    s.cases.delete(case.id)
    assert on_disk(files_dir) == [kept.file_id]
    assert rows(engine) == 1


def test_access_follows_the_case(fcrm, s, files_dir):
    bob = fcrm.session(USERS[2])
    public = s.cases.add("Public claim")
    secret = s.cases.add("Secret claim", restricted=True)
    doc = s.cases.attach(secret.id, PDF, "secret.pdf")
    for call in (
        lambda: bob.cases.attach(secret.id, PDF, "x.pdf"),
        lambda: bob.cases.documents(secret.id),
        lambda: bob.cases.open_document(secret.id, doc.id),
        lambda: bob.cases.remove_document(secret.id, doc.id),
        # A document is reached only through its own case.
        lambda: bob.cases.open_document(public.id, doc.id),
    ):
        with pytest.raises(NotFound):
            call()
    # Public cases are editable by every CRM user, so bob may attach to them.
    assert bob.cases.attach(public.id, PNG, "photo.png").created_by == "bob"
    assert len(on_disk(files_dir)) == 2


def test_without_a_file_store_documents_are_not_configured(crm, admin):
    case = admin.cases.add("Claim 7")
    with pytest.raises(NotConfigured):
        admin.cases.attach(case.id, PDF, "claim.pdf")
    assert crm.file_store is None


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (PDF, "application/pdf"),
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF87a\x01\x00", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 8, "application/x-ole-storage"),
        (b"PK\x03\x04broken", "application/zip"),
        (b"name;email\nJoe;joe@example.com\n", "text/plain"),
        (b"<svg/>", "image/svg+xml"),
        (b"\x00\x01\x02", None),
    ],
)
def test_sniff(data, kind):
    assert sniff(data) == kind


def test_local_store_ids_are_not_paths(files_dir):
    store = LocalFileStore(files_dir)
    for bad in ("../x", "", "a" * 32 + "/", "ABCDEF" * 6):
        with pytest.raises(NotFound):
            store.open(bad)
    stored = store.put(PDF, "x.pdf", "text/html")  # the claimed type is ignored
    assert stored.content_type == "application/pdf"
    store.delete(stored.id)
    store.delete(stored.id)  # twice is fine
    assert on_disk(files_dir) == []
