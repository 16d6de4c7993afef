"""What every service that stores files shares: the store itself, clean file names, and
removing stored files when their rows go (after the commit) or never came (on rollback).

Stored files are written before their rows; when the transaction does not commit they are
forgotten again (:func:`forget_files`), and files whose rows a change removed are deleted only
once that change committed (:func:`discard_files`). So a refused upload leaves neither file
nor row, and a rolled-back removal keeps its file.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from opencrm.core.contact_data import clean_name
from opencrm.core.ports import FileStore
from opencrm.core.services._base import Service
from opencrm.errors import NotConfigured

__all__ = ["clean_filename", "discard_files", "forget_files", "require_store"]

log = logging.getLogger("opencrm")


def require_store(service: Service) -> FileStore:
    """The CRM's file store; :class:`~opencrm.errors.NotConfigured` when it has none (every
    service that stores files asks here)."""
    store = service._ctx.file_store
    if store is None:
        raise NotConfigured(
            "the CRM has no file store: open it with CRM.open(..., file_store=LocalFileStore(dir))"
        )
    return store


def clean_filename(value: object) -> str:
    name = clean_name("filename", value, required=True)
    # Keep the last path part only: the name is shown and offered for download, never a path.
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip() or "file"


def discard_files(service: Service, file_ids: Iterable[str]) -> None:
    """Delete stored files whose rows are gone, once that change is durable (at once, or
    when the outer transaction the call joined commits); a failure is logged, the change
    stands."""
    store = service._ctx.file_store
    if store is None:
        return
    ids = list(file_ids)

    def delete() -> None:
        for file_id in ids:
            try:
                store.delete(file_id)
            except Exception:
                log.exception("could not delete the stored file %s", file_id)

    if ids:
        service._ctx.after_commit(delete)


def forget_files(store: FileStore | None, file_ids: Iterable[str]) -> None:
    """Remove files written by a transaction that did not commit (nothing refers to them);
    errors are swallowed: the original failure is what the caller reports."""
    if store is None:
        return
    for file_id in file_ids:
        with contextlib.suppress(Exception):
            store.delete(file_id)
