"""File formats at the edge of the CRM: streaming CSV and XLSX readers for imports.

The core never imports this package: a reader is handed to ``session.imports.run`` as an
iterable of rows.
"""

from opencrm.io.readers import MAX_FIELD, CsvRows, XlsxRows, detect_encoding, open_rows

__all__ = ["MAX_FIELD", "CsvRows", "XlsxRows", "detect_encoding", "open_rows"]
