"""A :class:`~opencrm.core.ports.FileStore` on the local disk."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from opencrm.core.files import ALLOWED_TYPES, StoredFile, check_upload
from opencrm.errors import NotFound, ValidationError

__all__ = ["DEFAULT_MAX_BYTES", "LocalFileStore"]

#: The default size limit of one file: 10 MiB.
DEFAULT_MAX_BYTES = 10 * 1024 * 1024

_FILE_ID = re.compile(r"^[0-9a-f]{32}$")


class LocalFileStore:
    """Files in one directory, each under a random 32-hex-digit name (the id).

    The original name is metadata only and never reaches the path. An upload is checked in
    full (size, sniffed type) before anything is written, and then written to a temporary file
    that is renamed into place, so a refused or interrupted upload leaves no file behind.
    Several app servers may share the directory (a network mount): names never collide.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        allowed_types: frozenset[str] = ALLOWED_TYPES,
    ) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.allowed_types = frozenset(allowed_types)
        self.root.mkdir(parents=True, exist_ok=True)

    def put(
        self, data: bytes | IO[bytes], original_name: str, content_type: str | None = None
    ) -> StoredFile:
        """Store ``data``; raise :class:`~opencrm.errors.ValidationError` for an empty, too
        large or refused file. ``content_type`` (the client's claim) is ignored."""
        raw = self._read(data)
        kind = check_upload(raw, max_bytes=self.max_bytes, allowed=self.allowed_types)
        file_id = secrets.token_hex(16)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
            os.replace(tmp, self.root / file_id)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return StoredFile(id=file_id, original_name=original_name, content_type=kind, size=len(raw))

    def put_stream(
        self, chunks: Iterable[bytes], original_name: str, content_type: str
    ) -> StoredFile:
        """Store a file opencrm generated itself (a job's export), written chunk by chunk so
        it never sits in memory whole. Not for uploads: neither the size limit nor the type
        check applies, and ``content_type`` is taken as given. An exception from ``chunks``
        leaves no file behind."""
        file_id = secrets.token_hex(16)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        size = 0
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
                    size += len(chunk)
            os.replace(tmp, self.root / file_id)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return StoredFile(
            id=file_id, original_name=original_name, content_type=content_type, size=size
        )

    def open_stream(self, file_id: str, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
        """The stored bytes in chunks (a large export is sent without being read whole);
        :class:`~opencrm.errors.NotFound` at once for an unknown id."""
        try:
            fh = self._path(file_id).open("rb")
        except FileNotFoundError:
            raise NotFound("file", file_id) from None
        return _chunks(fh, chunk_size)

    def open(self, file_id: str) -> bytes:
        try:
            return self._path(file_id).read_bytes()
        except FileNotFoundError:
            raise NotFound("file", file_id) from None

    def delete(self, file_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(file_id).unlink()

    def _path(self, file_id: str) -> Path:
        if not isinstance(file_id, str) or not _FILE_ID.match(file_id):
            raise NotFound("file", file_id)
        return self.root / file_id

    def _read(self, data: bytes | IO[bytes]) -> bytes:
        if isinstance(data, (bytes, bytearray, memoryview)):
            return bytes(data)
        read = getattr(data, "read", None)
        if read is None:
            raise ValidationError({"file": "must be bytes or a binary stream"})
        # One byte past the limit is enough to know it is too large; never read more.
        raw = read(self.max_bytes + 1)
        if not isinstance(raw, bytes):
            raise ValidationError({"file": "must be a binary stream (opened with 'rb')"})
        return raw


def _chunks(fh: IO[bytes], size: int) -> Iterator[bytes]:
    with fh:
        while chunk := fh.read(size):
            yield chunk
