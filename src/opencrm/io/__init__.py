"""File formats in and out of opencrm (CSV, XLSX, ZIP). Imports nothing the core needs: the
core never imports this package."""

from __future__ import annotations

from opencrm.io._writers import DANGEROUS_PREFIXES, neutralise
from opencrm.io.export import CONTENT_TYPES, records, stream_export, stream_full_export

__all__ = [
    "CONTENT_TYPES",
    "DANGEROUS_PREFIXES",
    "neutralise",
    "records",
    "stream_export",
    "stream_full_export",
]
