"""File formats in and out of opencrm: streaming CSV and XLSX readers for imports, CSV, XLSX
and ZIP writers for exports, reports as .xlsx with charts and as JSON.

The core never imports this package: a reader is handed to ``session.imports.run`` as an
iterable of rows, and exports read through the session services.
"""

from __future__ import annotations

from opencrm.io._writers import DANGEROUS_PREFIXES, neutralise
from opencrm.io.export import CONTENT_TYPES, records, stream_export, stream_full_export
from opencrm.io.readers import MAX_FIELD, CsvRows, XlsxRows, detect_encoding, open_rows

__all__ = [
    "CONTENT_TYPES",
    "DANGEROUS_PREFIXES",
    "MAX_FIELD",
    "CsvRows",
    "XlsxRows",
    "detect_encoding",
    "neutralise",
    "open_rows",
    "records",
    "stream_export",
    "stream_full_export",
]
