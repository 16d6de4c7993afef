"""Files: what an upload is (sniffed from its bytes, never from its name) and the stored
documents of a case.

The rules live here, storage-free, so every :class:`~opencrm.core.ports.FileStore` refuses the
same uploads: an empty file, one over the store's size limit, and any type outside the
allow-list. Types are told from the leading bytes with a small signature table; HTML, SVG and
XML (which a browser would run as a page), and "polyglots" (an allowed signature with markup
right behind it) are refused.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import attrs

from opencrm.errors import ValidationError

__all__ = [
    "ALLOWED_TYPES",
    "CaseDocument",
    "StoredFile",
    "check_upload",
    "sniff",
]

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
WEBP = "image/webp"
ZIP = "application/zip"
TEXT = "text/plain"
HTML = "text/html"
SVG = "image/svg+xml"
XML = "application/xml"
OLE = "application/x-ole-storage"  # legacy .doc/.xls/.ppt and Outlook .msg
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODF_PREFIX = "application/vnd.oasis.opendocument."

#: What a store accepts unless told otherwise (OpenDocument types are accepted by prefix).
ALLOWED_TYPES = frozenset({PDF, PNG, JPEG, GIF, WEBP, ZIP, TEXT, OLE, DOCX, XLSX, PPTX})

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLE),
)

# Markup a browser would render as a page or run as script: refused anywhere near the start.
_ACTIVE = (b"<!doctype html", b"<html", b"<script", b"<svg", b"<body", b"<iframe")
_SCAN = 1024
_POLYGLOT = "carries markup behind its signature (a polyglot file)"
_IMAGES = frozenset({PNG, JPEG, GIF, WEBP})
# Script and markup openers, searched through a whole image (case-insensitively). None is part
# of any image format; each is 5 bytes or more, so compressed pixel data matches one by chance
# about once in 10^5 files of 10 MB (shorter openers such as "<?=" or "<svg" would refuse a
# few percent of large photos).
_SCRIPT = (b"<?php", b"<script", b"<html", b"<body", b"<iframe", b"<object", b"<embed")


def _zip_type(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if "mimetype" in names:
                declared = archive.read("mimetype").decode("ascii", "replace").strip()
                if declared.startswith(ODF_PREFIX):
                    return declared
    except (zipfile.BadZipFile, OSError, KeyError, ValueError):
        return ZIP
    for prefix, kind in (("word/", DOCX), ("xl/", XLSX), ("ppt/", PPTX)):
        if "[Content_Types].xml" in names and any(n.startswith(prefix) for n in names):
            return kind
    return ZIP


def _text_type(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    try:
        # Cut at the scan length, so a multi-byte character split at the end is not an error.
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return None
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if stripped.startswith(b"<svg") or b"<svg" in stripped:
        return SVG
    if stripped.startswith(b"<?xml"):
        return XML
    if any(marker in stripped for marker in _ACTIVE):
        return HTML
    return TEXT


def sniff(data: bytes) -> str | None:
    """The content type of ``data`` told from its bytes, or None when it is not recognised."""
    head = data[:_SCAN]
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"PK\x03\x04"):
        return _zip_type(data)
    return _text_type(head)


def check_upload(
    data: bytes, *, max_bytes: int, allowed: frozenset[str] = ALLOWED_TYPES, field: str = "file"
) -> str:
    """Return the sniffed content type of an acceptable upload; raise
    :class:`~opencrm.errors.ValidationError` (nothing stored yet) for an empty, too large,
    unrecognised, forbidden or polyglot one."""
    if not isinstance(data, bytes):
        raise ValidationError({field: "must be bytes or a binary stream"})
    if not data:
        raise ValidationError({field: "is empty"})
    if len(data) > max_bytes:
        raise ValidationError({field: f"is larger than the limit of {max_bytes} bytes"})
    kind = sniff(data)
    if kind is None:
        raise ValidationError({field: "is of a type that is not recognised"})
    if kind not in allowed and not kind.startswith(ODF_PREFIX):
        raise ValidationError({field: f"is of a type that is not accepted ({kind})"})
    if kind != TEXT and any(marker in data[:_SCAN].lower() for marker in _ACTIVE):
        raise ValidationError({field: _POLYGLOT})
    if kind in _IMAGES:
        # An image is pixels: script or markup anywhere in it (appended after the image
        # data, or in a comment or text chunk) makes it a polyglot that a misconfigured
        # server would run or a browser render, so the whole file is scanned.
        lowered = data.lower()
        if any(marker in lowered for marker in _SCRIPT):
            raise ValidationError({field: _POLYGLOT})
    return kind


@attrs.frozen(kw_only=True)
class StoredFile:
    """A file a :class:`~opencrm.core.ports.FileStore` holds. ``id`` is the random name it is
    stored under; ``original_name`` is only metadata (never a path); ``content_type`` was sniffed
    from the bytes."""

    id: str
    original_name: str
    content_type: str
    size: int


@attrs.frozen(kw_only=True)
class CaseDocument:
    """A document attached to a case: the stored file's metadata, who attached it and when."""

    id: int
    case_id: int
    file_id: str
    name: str
    content_type: str
    size: int
    created_by: str
    created_at: dt.datetime
