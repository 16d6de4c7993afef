"""A contact's photo: three renditions in the FileStore, one row naming them.

The upload is checked and rendered (:func:`opencrm.core.photos.process_photo`) before
anything is written, so a refused image leaves neither file nor row. The renditions are
written before the row and deleted again when the transaction does not commit; the files of
a replaced or removed photo are deleted only after the change committed, so a rolled-back
change keeps the photo it had.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from opencrm.core.entities.activities import ContactPhoto
from opencrm.core.photos import SIZES, process_photo
from opencrm.core.services._files import discard_files, forget_files, require_store
from opencrm.errors import NotFound, ValidationError

if TYPE_CHECKING:
    from opencrm.core.services.contacts import ContactService

__all__ = ["photo", "photo_info", "remove_photo", "set_photo"]

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg"}


def _file_ids(photo: ContactPhoto) -> list[str]:
    return [photo.large_file_id, photo.medium_file_id, photo.small_file_id]


def set_photo(contacts: ContactService, contact_id: int, data: bytes | IO[bytes]) -> ContactPhoto:
    store = require_store(contacts._s)
    # Rights first (a cheap read), so the image is only worked on for someone who may set it.
    with contacts._s._tx(write=False) as tx:
        contacts._editable(tx, contact_id)
    rendered = process_photo(data)
    ext = _EXTENSIONS.get(rendered.content_type, "img")
    written: list[str] = []
    try:
        with contacts._s._tx() as tx:
            contact = contacts._editable(tx, contact_id)
            for size, blob in zip(
                SIZES, (rendered.large, rendered.medium, rendered.small), strict=True
            ):
                written.append(store.put(blob, f"contact-{contact.id}-{size}.{ext}").id)
            large_id, medium_id, small_id = written
            new = ContactPhoto(
                contact_id=contact.id,
                large_file_id=large_id,
                medium_file_id=medium_id,
                small_file_id=small_id,
                content_type=rendered.content_type,
                width=rendered.width,
                height=rendered.height,
                updated_by=tx.actor.id,
                updated_at=tx.now,
            )
            replaced = tx.uow.contact_photos.put(new)
            tx.emit(
                "contact.photo_changed",
                contact,
                data={
                    "content_type": new.content_type,
                    "width": new.width,
                    "height": new.height,
                    "replaced": replaced is not None,
                },
            )
    except BaseException:
        forget_files(store, written)
        raise
    if replaced is not None:
        discard_files(contacts._s, _file_ids(replaced))
    return new


def photo_info(contacts: ContactService, contact_id: int) -> ContactPhoto | None:
    with contacts._s._tx(write=False) as tx:
        contact = contacts._readable(tx, contact_id)
        return tx.uow.contact_photos.get(contact.id)


def photo(contacts: ContactService, contact_id: int, size: str = "large") -> bytes:
    if size not in SIZES:
        raise ValidationError({"size": f"must be one of {', '.join(SIZES)}"})
    store = require_store(contacts._s)
    with contacts._s._tx(write=False) as tx:
        contact = contacts._readable(tx, contact_id)
        found = tx.uow.contact_photos.get(contact.id)
    if found is None:
        raise NotFound("photo", contact_id)
    file_id = {
        "large": found.large_file_id,
        "medium": found.medium_file_id,
        "small": found.small_file_id,
    }[size]
    return store.open(file_id)


def remove_photo(contacts: ContactService, contact_id: int) -> None:
    require_store(contacts._s)  # NotConfigured without a file store
    with contacts._s._tx() as tx:
        contact = contacts._editable(tx, contact_id)
        removed = tx.uow.contact_photos.delete(contact.id)
        if removed is not None:
            tx.emit(
                "contact.photo_removed",
                contact,
                data={"content_type": removed.content_type},
            )
    if removed is not None:
        discard_files(contacts._s, _file_ids(removed))
