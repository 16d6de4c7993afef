"""Streaming readers of CSV and XLSX files: rows come one at a time, never the whole file.

Each reader is a :class:`~opencrm.core.imports.RowSource`: ``columns`` (the header row) and
iteration over :class:`~opencrm.core.imports.SourceRow`. What is wrong with one cell (a NUL
byte, a field longer than ``max_field`` characters) is reported on that row, which the import
then rejects; what stops the file from being read on (bytes that are not the encoding's, a
broken quote running past the size limit) raises :class:`~opencrm.errors.ValidationError`
naming ``file`` with the row and the byte offset.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import os
from collections.abc import Iterator, Sequence
from typing import IO, Any

from opencrm.core.imports import SourceRow
from opencrm.errors import ValidationError

__all__ = [
    "MAX_FIELD",
    "CsvRows",
    "XlsxRows",
    "detect_encoding",
    "open_rows",
]

#: The longest cell an import accepts (characters); longer ones are reported on their row.
MAX_FIELD = 131_072
#: csv's own limit, set high on purpose: a field between MAX_FIELD and this is read, then
#: reported on its row (csv would stop the file); beyond it the file is refused (a quote that
#: never closes swallows the rest of the file, and memory must stay bounded).
CSV_FIELD_LIMIT = 16 * 1024 * 1024
_SAMPLE = 64 * 1024
_CHUNK = 256 * 1024
_DELIMITERS = ",;\t|"

if csv.field_size_limit() < CSV_FIELD_LIMIT:
    csv.field_size_limit(CSV_FIELD_LIMIT)

Source = str | os.PathLike[str] | bytes | IO[bytes]


def _open(source: Source) -> tuple[IO[bytes], bool]:
    """A binary stream for ``source`` and whether we opened it (and so must close it)."""
    if isinstance(source, bytes):
        return io.BytesIO(source), True
    if isinstance(source, (str, os.PathLike)):
        return open(source, "rb"), True  # closed by the reader when it is done
    return source, False


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def detect_encoding(sample: bytes) -> str:
    """The encoding of a file from its first bytes: a byte-order mark names UTF-8, UTF-16 or
    UTF-32; NUL bytes in every other position mean UTF-16 without a mark; otherwise UTF-8
    when the sample is valid UTF-8, else Windows-1252 (Latin-1 when a byte is undefined in
    Windows-1252)."""
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    if b"\x00" in sample[:4096]:
        # UTF-16 without a mark: text of mostly ASCII has a NUL in every other byte.
        head = sample[:4096]
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if max(even, odd) > len(head) // 4 and min(even, odd) <= max(even, odd) // 8:
            return "utf-16-be" if even > odd else "utf-16-le"
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _encoding(given: str | None, sample: bytes) -> str:
    if given is None:
        return detect_encoding(sample)
    try:
        name = codecs.lookup(given).name
    except LookupError:
        raise ValidationError({"encoding": f"unknown encoding {given!r}"}) from None
    if name == "utf-8" and sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    return name


class _BadBytes(Exception):
    def __init__(self, offset: int, byte: int, encoding: str) -> None:
        self.offset = offset
        self.byte = byte
        self.encoding = encoding


class _Lines:
    """Decoded lines of a binary stream (ends kept, for csv), tracking byte offsets so a
    decoding error can name its byte."""

    def __init__(self, stream: IO[bytes], head: bytes, encoding: str) -> None:
        self._stream = stream
        self._head = head
        self._encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)("strict")
        self.offset = 0

    def __iter__(self) -> Iterator[str]:
        offset = 0
        rest = ""
        chunk = self._head
        while True:
            final = not chunk
            buffered = len(self._decoder.getstate()[0])
            try:
                text = self._decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                # The lines before the bad bytes first, so the error names the right row.
                data = exc.object
                try:
                    good = codecs.getincrementaldecoder(self._encoding)("strict").decode(
                        data[: exc.start]
                    )
                except UnicodeDecodeError:
                    good = ""
                yield from (line + "\n" for line in (rest + good).split("\n")[:-1])
                raise _BadBytes(
                    offset - buffered + exc.start, data[exc.start], self._encoding
                ) from None
            offset += len(chunk)
            self.offset = offset
            text = rest + text
            lines = text.split("\n")
            rest = lines.pop()
            for line in lines:
                yield line + "\n"
            if final:
                if rest:
                    yield rest
                return
            chunk = self._stream.read(_CHUNK)


def _unique(names: Sequence[str]) -> list[str]:
    """Header names made unique: an empty cell after a named one (a merged header cell)
    becomes ``"<name> (2)"``, a repeated name ``"<name> (2)"`` too; an empty first cell is
    ``"column 1"``."""
    out: list[str] = []
    seen: set[str] = set()
    last = ""
    for n, raw in enumerate(names, start=1):
        name = " ".join(str(raw).split()) if raw is not None else ""
        base = name or last or f"column {n}"
        if name:
            last = name
        candidate, k = base, 1
        while candidate in seen:
            k += 1
            candidate = f"{base} ({k})"
        seen.add(candidate)
        out.append(candidate)
    return out


def _check_cell(value: Any, column: str, problems: dict[str, str]) -> Any:
    if isinstance(value, str):
        if len(value) > MAX_FIELD:
            problems[column] = f"is longer than {MAX_FIELD:,} characters ({len(value):,})"
            return None
        if "\x00" in value:
            problems[column] = "contains a NUL byte"
            return None
    return value


class CsvRows:
    """The rows of a CSV file, streamed.

    ``delimiter`` and ``quotechar`` are sniffed from the first 64 KiB unless given;
    ``encoding`` is detected (see :func:`detect_encoding`) unless given, and a given encoding
    the bytes do not fit is an error naming the row and byte, never garbled text. With
    ``header=False`` the columns are named ``column 1``, ``column 2``... Blank lines are
    skipped (they still count as rows for the row numbers).
    """

    #: Told to the import: a CSV export's neutralised cells are restored (``mapping="export"``).
    format = "csv"

    def __init__(
        self,
        source: Source,
        *,
        encoding: str | None = None,
        delimiter: str | None = None,
        quotechar: str | None = None,
        header: bool = True,
    ) -> None:
        self._stream, self._owned = _open(source)
        self._head = self._stream.read(_SAMPLE)
        self.encoding = _encoding(encoding, self._head)
        for name, value in (("delimiter", delimiter), ("quotechar", quotechar)):
            if value is not None and (not isinstance(value, str) or len(value) != 1):
                raise ValidationError({name: "must be one character"})
        sniffed_delimiter, sniffed_quote = self._sniff()
        self.delimiter = delimiter or sniffed_delimiter
        self.quotechar = quotechar or sniffed_quote
        self._lines = _Lines(self._stream, self._head, self.encoding)
        self._reader = csv.reader(
            iter(self._lines),
            delimiter=self.delimiter,
            quotechar=self.quotechar,
            doublequote=True,
            strict=False,
        )
        self._number = 0
        self._columns: list[str] = []
        self._header = header
        self._first: list[str] | None = None
        if header:
            first = self._next()
            while first is not None and not any(c.strip() for c in first):
                first = self._next()
            if first is None:
                raise ValidationError({"file": "is empty: no header row"})
            self._columns = _unique(first)
        else:
            self._first = self._next()
            width = len(self._first) if self._first is not None else 0
            self._columns = [f"column {n}" for n in range(1, width + 1)]

    @property
    def columns(self) -> Sequence[str]:
        return tuple(self._columns)

    @property
    def bytes_read(self) -> int:
        """How far into the file the reader is (in 256 KiB steps), for progress bars."""
        return self._lines.offset

    def _sniff(self) -> tuple[str, str]:
        try:
            text = codecs.getincrementaldecoder(self.encoding)("replace").decode(self._head)
        except Exception:  # an odd codec: fall back to the defaults
            return ",", '"'
        # The first 20 whole lines only: csv.Sniffer's patterns take seconds on 64 KiB, and a
        # cut last line would mislead it.
        lines = text.split("\n")[:21]
        text = "\n".join(lines[:-1]) + "\n" if len(lines) > 1 else text
        try:
            dialect = csv.Sniffer().sniff(text, delimiters=_DELIMITERS)
            return dialect.delimiter, dialect.quotechar or '"'
        except csv.Error:
            first = text.split("\n", 1)[0]
            counts = {d: first.count(d) for d in _DELIMITERS}
            best = max(counts, key=lambda d: counts[d])
            return (best if counts[best] else ","), '"'

    def _next(self) -> list[str] | None:
        try:
            record = next(self._reader)
        except StopIteration:
            return None
        except _BadBytes as exc:
            raise ValidationError(
                {
                    "file": f"row {self._number + 1}: byte {exc.offset:,} (0x{exc.byte:02x}) "
                    f"is not {exc.encoding} text; give the file's encoding"
                }
            ) from None
        except csv.Error as exc:
            raise ValidationError(
                {"file": f"row {self._number + 1}: cannot be read as CSV ({exc})"}
            ) from None
        self._number += 1
        return record

    def __iter__(self) -> Iterator[SourceRow]:
        columns = self._columns
        width = len(columns)
        try:
            pending = self._first
            self._first = None
            while True:
                record = pending if pending is not None else self._next()
                pending = None
                if record is None:
                    return
                if not any(c.strip() for c in record):
                    continue
                problems: dict[str, str] = {}
                values = {
                    columns[i]: _check_cell(cell, columns[i], problems)
                    for i, cell in enumerate(record[:width])
                }
                if any(c.strip() for c in record[width:]):
                    problems["(extra cells)"] = f"has {len(record)} cells; the header has {width}"
                yield SourceRow(self._number, values, problems)
        finally:
            self.close()

    def close(self) -> None:
        if self._owned:
            self._stream.close()


class XlsxRows:
    """The rows of one sheet of an XLSX workbook (the first unless ``sheet`` names one),
    streamed with openpyxl's read-only mode.

    Cells come typed: numbers, booleans, text; dates as ``datetime.date`` (a date-time
    cell at midnight without a time in its format) or ``datetime.datetime``. Formulas are
    read as the value Excel saved with them, never as formulas. An empty header cell after a
    named one (a merged header cell) is named after it: ``"Address"``, ``"Address (2)"``.
    """

    format = "xlsx"

    def __init__(self, source: Source, *, sheet: str | None = None) -> None:
        # Imported here: CSV readers (and the core) need no openpyxl.
        from openpyxl import load_workbook

        self._stream, self._owned = _open(source)
        try:
            self._book = load_workbook(self._stream, read_only=True, data_only=True)
        except Exception as exc:  # zipfile, XML and openpyxl errors alike: not a workbook
            self.close()
            raise ValidationError({"file": f"is not an XLSX workbook ({exc})"}) from None
        if sheet is not None and sheet not in self._book.sheetnames:
            self.close()
            raise ValidationError({"sheet": f"no sheet {sheet!r}"})
        self._sheet = self._book[sheet] if sheet is not None else self._book.worksheets[0]
        self._rows = self._sheet.iter_rows()
        self._number = 0
        header = None
        for cells in self._rows:
            self._number += 1
            values = [_cell_value(c) for c in cells]
            if any(v not in (None, "") for v in values):
                header = values
                break
        if header is None:
            self.close()
            raise ValidationError({"file": "is empty: no header row"})
        while header and header[-1] in (None, ""):
            header.pop()
        self._columns = _unique([("" if v is None else str(v)) for v in header])

    @property
    def columns(self) -> Sequence[str]:
        return tuple(self._columns)

    def __iter__(self) -> Iterator[SourceRow]:
        columns = self._columns
        width = len(columns)
        try:
            for cells in self._rows:
                self._number += 1
                values_list = [_cell_value(c) for c in cells]
                if all(v in (None, "") for v in values_list):
                    continue
                problems: dict[str, str] = {}
                values = {
                    columns[i]: _check_cell(v, columns[i], problems)
                    for i, v in enumerate(values_list[:width])
                }
                if any(v not in (None, "") for v in values_list[width:]):
                    problems["(extra cells)"] = "has cells beyond the header's columns"
                yield SourceRow(self._number, values, problems)
        finally:
            self.close()

    def close(self) -> None:
        book = getattr(self, "_book", None)
        if book is not None:
            book.close()
        if self._owned:
            self._stream.close()


def _cell_value(cell: Any) -> Any:
    value = cell.value
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        fmt = (getattr(cell, "number_format", "") or "").lower()
        if not any(mark in fmt for mark in ("h", "s", "am/pm")):
            return value.date()
    return value


def open_rows(
    source: Source,
    *,
    format: str | None = None,
    filename: str | None = None,
    **options: Any,
) -> CsvRows | XlsxRows:
    """A reader for ``source``: ``format`` ``"csv"`` or ``"xlsx"``, else told from the
    file name's extension, else from the first bytes (an XLSX file is a ZIP archive)."""
    if format is None:
        name = filename or (str(source) if isinstance(source, (str, os.PathLike)) else "")
        if name.lower().endswith((".xlsx", ".xlsm")):
            format = "xlsx"
        elif name.lower().endswith((".csv", ".txt", ".tsv")):
            format = "csv"
    if format is None:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as f:
                start = f.read(4)
        elif isinstance(source, bytes):
            start = source[:4]
        else:
            start = source.read(4)
            source.seek(0)
        format = "xlsx" if start == b"PK\x03\x04" else "csv"
    if format == "xlsx":
        return XlsxRows(source, **options)
    if format == "csv":
        return CsvRows(source, **options)
    raise ValidationError({"format": "must be csv or xlsx"})
