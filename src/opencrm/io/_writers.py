"""Writers: rows of typed values in, file bytes out, chunk by chunk.

CSV cells are text; a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a leading ``'`` (OWASP's advice against CSV injection: a spreadsheet would
otherwise run it as a formula); so does text whose leading ``'`` stand before such a character,
so that the import (``mapping="export"``), which drops one such ``'``, reads every text back
unchanged. Numbers, dates and booleans the exporter writes itself are
never prefixed (``-12.50`` stays a number). XLSX cells are typed values (numbers, dates,
booleans) or inline strings; a string starting with ``=`` is written as a string, never as a
formula. Characters XML cannot hold (control characters) are replaced by U+FFFD.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

__all__ = [
    "CHUNK",
    "DANGEROUS_PREFIXES",
    "csv_chunks",
    "csv_text",
    "neutralise",
    "xlsx_chunks",
    "zip_chunks",
]

#: Bytes per chunk handed on (to the file store, to an HTTP response).
CHUNK = 256 * 1024
#: What a spreadsheet may read as the start of a formula.
DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

Row = Sequence[Any]


def neutralise(text: str) -> str:
    """``text`` made inert for a spreadsheet: a leading ``'`` before a dangerous first
    character (see :data:`DANGEROUS_PREFIXES`), and before text whose leading quotes stand
    before one (so that the import, which drops one such ``'``, reads every text back)."""
    if text.startswith(DANGEROUS_PREFIXES):
        return "'" + text
    if text[:1] == "'" and text.lstrip("'").startswith(DANGEROUS_PREFIXES):
        return "'" + text
    return text


_DANGEROUS_FIRST = frozenset(DANGEROUS_PREFIXES) | {"'"}


def csv_text(value: Any) -> str:
    """How a typed value is written in CSV: text neutralised, ``true``/``false``, decimals
    as written, dates and datetimes in ISO 8601 (datetimes in UTC with ``Z``)."""
    if value.__class__ is str:  # the common case first: a million rows have many cells
        return neutralise(value) if value[:1] in _DANGEROUS_FIRST else value
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, (int, Decimal, dt.date)):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    return neutralise(str(value))


def csv_chunks(header: Row, rows: Iterable[Row]) -> Iterator[bytes]:
    """UTF-8 CSV (with a BOM, so spreadsheets pick the encoding), comma-separated, every
    cell quoted, CRLF line ends, in chunks of about :data:`CHUNK` bytes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    first = True
    for row in rows:
        writer.writerow([csv_text(v) for v in row])
        if buffer.tell() >= CHUNK:
            yield _take(buffer, first)
            first = False
    yield _take(buffer, first)


def _take(buffer: io.StringIO, first: bool) -> bytes:
    data = buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    return (b"\xef\xbb\xbf" + data) if first else data


def _xlsx_value(ws: Any, value: Any) -> Any:
    if isinstance(value, str):
        if not value:
            return None  # no cell at all: openpyxl skips None, but writes <c/> for ""
        if ILLEGAL_CHARACTERS_RE.search(value):
            value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        if value.startswith("="):
            cell = WriteOnlyCell(ws, value=value)
            cell.data_type = "s"  # openpyxl would take it for a formula
            return cell
        return value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None)  # Excel has no time zones: UTC
    return value


def xlsx_chunks(header: Row, rows: Iterable[Row], *, title: str = "Export") -> Iterator[bytes]:
    """An XLSX workbook of one sheet, written by openpyxl in write-only mode (each row goes
    to a temporary file as it comes), then read back in chunks. Datetimes are in UTC."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=title[:31])
    ws.append([_xlsx_value(ws, h) for h in header])
    for row in rows:
        ws.append([_xlsx_value(ws, v) for v in row])
    fd, path = tempfile.mkstemp(prefix="opencrm-export-", suffix=".xlsx")
    os.close(fd)
    try:
        wb.save(path)
        yield from _file_chunks(path)
    finally:
        os.unlink(path)


def zip_chunks(members: Iterable[tuple[str, Row, Iterable[Row]]]) -> Iterator[bytes]:
    """A ZIP (deflated, ZIP64 when large) of one CSV per ``(name, header, rows)``, each CSV
    streamed into the archive; the archive is then read back in chunks."""
    fd, path = tempfile.mkstemp(prefix="opencrm-export-", suffix=".zip")
    os.close(fd)
    try:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, header, rows in members:
                with archive.open(name, "w", force_zip64=True) as member:
                    for chunk in csv_chunks(header, rows):
                        member.write(chunk)
        yield from _file_chunks(path)
    finally:
        os.unlink(path)


def _file_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk
