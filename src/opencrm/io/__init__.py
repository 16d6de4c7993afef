"""File formats at the edge of opencrm (xlsx, JSON); may import openpyxl, never imported by
the core."""
