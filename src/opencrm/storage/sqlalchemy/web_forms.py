"""Storage of website contact forms and of the rate limit of their posts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from opencrm.core.entities.contacts import Access
from opencrm.core.entities.web_forms import WebForm, WebFormKind
from opencrm.storage.sqlalchemy.tables import web_form_hits, web_forms

__all__ = ["SqlWebFormRepository"]


def _form(r: Row[Any]) -> WebForm:
    spec = r.spec
    return WebForm(
        id=r.id,
        name=r.name,
        kind=WebFormKind(r.kind),
        fields=tuple(spec["fields"]),
        required=tuple(spec["required"]),
        tags=tuple(spec["tags"]),
        managers=frozenset(spec["managers"]),
        access=Access(spec["access"]),
        notify=tuple(spec["notify"]),
        return_urls=tuple(spec["return_urls"]),
        rate_limit=int(spec["rate_limit"]),
        key=r.form_key,
        posts=r.posts,
        created_by=r.created_by,
        created_at=r.created_at,
        updated_by=r.updated_by,
        updated_at=r.updated_at,
    )


def _row(form: WebForm) -> dict[str, Any]:
    return {
        "name": form.name,
        "kind": form.kind.value,
        "spec": {
            "fields": list(form.fields),
            "required": list(form.required),
            "tags": list(form.tags),
            "managers": sorted(form.managers),
            "access": form.access.value,
            "notify": list(form.notify),
            "return_urls": list(form.return_urls),
            "rate_limit": form.rate_limit,
        },
        "form_key": form.key,
        "created_by": form.created_by,
        "created_at": form.created_at,
        "updated_by": form.updated_by,
        "updated_at": form.updated_at,
    }


class SqlWebFormRepository:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def list(self) -> Sequence[WebForm]:
        rows = self._c.execute(select(web_forms).order_by(web_forms.c.id))
        return [_form(r) for r in rows]

    def get(self, form_id: int) -> WebForm | None:
        row = self._c.execute(select(web_forms).where(web_forms.c.id == form_id)).first()
        return None if row is None else _form(row)

    def add(self, form: WebForm) -> WebForm:
        new_id = self._c.execute(
            web_forms.insert().values(_row(form)).returning(web_forms.c.id)
        ).scalar_one()
        stored = self.get(new_id)
        assert stored is not None
        return stored

    def update(self, form: WebForm) -> None:
        self._c.execute(update(web_forms).where(web_forms.c.id == form.id).values(_row(form)))

    def delete(self, form_id: int) -> None:
        self._c.execute(delete(web_form_hits).where(web_form_hits.c.form_id == form_id))
        self._c.execute(delete(web_forms).where(web_forms.c.id == form_id))

    def count_post(self, form_id: int) -> None:
        self._c.execute(
            update(web_forms).where(web_forms.c.id == form_id).values(posts=web_forms.c.posts + 1)
        )

    def hit(self, form_id: int, client: str, window: dt.datetime) -> int:
        self._c.execute(delete(web_form_hits).where(web_form_hits.c.window < window))
        insert = postgresql.insert if self._c.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(web_form_hits).values(form_id=form_id, client=client, window=window, hits=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=["form_id", "client", "window"],
            set_={"hits": web_form_hits.c.hits + 1},
        )
        return int(self._c.execute(stmt.returning(web_form_hits.c.hits)).scalar_one())
