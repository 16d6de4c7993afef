"""Every public service method, fed hostile values one argument at a time, on both backends.

Each call either succeeds or raises an :mod:`opencrm.errors` type other than ``StorageError``
(which is kept for faults that are not the caller's), a failed call changes no row, and the
same call has the same outcome on SQLite and on PostgreSQL. The calls come from a table with
a valid argument builder for every public method of every service on a ``Session``; a new
method without an entry fails :func:`test_every_public_method_is_fuzzed`, so no capability
escapes the fuzzing.

One seeded CRM per backend serves the whole module (a fresh one per call would be far too
slow); successful calls may change it, identically on both backends.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import inspect
import json
import math
import shutil
import time
import zlib
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from moneyed import Money

from conftest import IN_CI, PgDatabase, _pg_available
from opencrm import CRM, InMemoryUserDirectory, User
from opencrm.core.imports import SourceRow
from opencrm.core.services import cases as cases_module
from opencrm.core.services import contacts as contacts_module
from opencrm.core.services import history as history_module
from opencrm.core.services import invoices as invoices_module
from opencrm.core.services import opportunities as opportunities_module
from opencrm.core.services import tasks as tasks_module
from opencrm.core.services import voip as voip_module
from opencrm.core.services import web_forms as web_forms_module
from opencrm.core.telephony import WebhookUrls
from opencrm.core.users import ModuleAccess
from opencrm.errors import (
    InvalidTransition,
    MissingExchangeRates,
    NotFound,
    OpenCRMError,
    StorageError,
    ValidationError,
)
from opencrm.plugins import hookimpl
from opencrm.plugins.builtin.notify import OutboxNotifier
from opencrm.session import Session
from opencrm.storage.files import LocalFileStore
from opencrm.storage.sqlalchemy.engine import create_engine_for
from opencrm.storage.sqlalchemy.tables import metadata
from voip_fakes import FakeProvider, FakeTelephony

UTC = dt.UTC
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

ADMIN = User(id="admin", name="Ada Admin", crm_admin=True)
PLAIN = User(id="alice", name="Alice")
OTHER = User(id="bob", name="Bob")
NEWCOMER = User(id="carol", name="Carol")  # operates no number until voip.add_operator
USERS = (ADMIN, PLAIN, OTHER, NEWCOMER)


# --- the hostile corpus ----------------------------------------------------------------------


class Opaque:
    """An object of no type a service knows (same repr on every run)."""

    def __repr__(self) -> str:
        return "<opaque>"


def _cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


#: Label -> value. Labels name the value in failure messages and in the findings.
HOSTILE: dict[str, Any] = {
    "int 0": 0,
    "int -1": -1,
    "int 2**31": 2**31,
    "int 2**63": 2**63,
    "int 2**70": 2**70,
    "True": True,
    "False": False,
    "float 1.5": 1.5,
    "float nan": math.nan,
    "float inf": math.inf,
    "float -0.0": -0.0,
    "Decimal 1e1000000": Decimal("1e1000000"),
    "Decimal NaN": Decimal("NaN"),
    "Decimal -Infinity": Decimal("-Infinity"),
    "str 1e1000000": "1e1000000",
    "str NaN": "NaN",
    "str Infinity": "Infinity",
    "str 1": "1",
    "str -1": "-1",
    "str NUL": "a\x00b",
    "str CRLF": "a\r\nb",
    "str ESC": "\x1b[31mred",
    "str lone surrogate": "\ud800",
    "str 100k": "x" * 100_000,
    "str arabic digit": "\u0663",
    "str fullwidth digits": "\uff11\uff12",
    "str empty": "",
    "str whitespace": " \t\u00a0 ",
    "str RTL override": "\u202eevil",
    "str zero-width": "\u200b",
    "str emoji": "\U0001f600",
    "str sql": "x'; DROP TABLE contacts; --",
    "None": None,
    "list": ["a"],
    "empty list": [],
    "dict": {"a": 1},
    "empty dict": {},
    "set": {1},
    "tuple of None": (None,),
    "list of 100k ints": list(range(100_000)),
    "deeply nested list": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]],
    "list of lists": [[1, 2], [3]],
    "date min": dt.date.min,
    "date max": dt.date.max,
    "datetime min": dt.datetime.min,
    "datetime max": dt.datetime.max,
    "datetime min aware": dt.datetime.min.replace(tzinfo=UTC),
    "datetime max aware": dt.datetime.max.replace(tzinfo=UTC),
    "datetime +14h": dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=14))),
    "timedelta": dt.timedelta(days=1),
    "str date max": "9999-12-31",
    "str date zero": "0000-00-00",
    "bytes": b"\x00\xff",
    "bytearray": bytearray(b"abc"),
    "Money": Money("1.00", "EUR"),
    "User": OTHER,
    "object": Opaque(),
    "complex": 1j,
    "type": int,
    "str malformed url host": "http://[",
    "str time zone folder": "America",
}

#: Extra values for the ``after`` cursors: forged tokens of the right shape and wrong types.
CURSORS: dict[str, Any] = {
    "cursor not base64": "!!!",
    "cursor not json": base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    "cursor json null": _cursor(None),
    "cursor empty pair": _cursor([]),
    "cursor wrong sort": _cursor(["nope", [1]]),
    "cursor values not list": _cursor(["name", "x"]),
    "cursor name list": _cursor(["name", [[1], {"a": 1}]]),
    "cursor name float": _cursor(["name", [1.5, 2]]),
    "cursor name huge int": _cursor(["name", ["x", 2**70]]),
    "cursor name bad dt": _cursor(["name", [{"dt": "yesterday"}, 1]]),
    "cursor name dt int": _cursor(["name", [{"dt": 5}, 1]]),
    "cursor name edge dt": _cursor(["name", [{"dt": "9999-12-31T23:59:59-14:00"}, 1]]),
    "cursor name short": _cursor(["name", []]),
    "cursor name long": _cursor(["name", list(range(50))]),
    "cursor name bools": _cursor(["name", [True, False]]),
    "cursor title mixed": _cursor(["title", [None, "x", 1]]),
    "cursor title str id": _cursor(["title", ["x", "1"]]),
    "cursor due": _cursor(["due", [{"dt": "0001-01-01T00:00:00"}, 1]]),
    "cursor -issue_date": _cursor(["-issue_date", ["0001-01-01", "1"]]),
    "cursor -date": _cursor(["-date", [{"dt": "2024-01-01T00:00:00+00:00"}, "x"]]),
}


# --- the seeded world ------------------------------------------------------------------------


class HeldJobs:
    """A host's queue that takes every job and runs none: no background thread writes while a
    call is watched. The world's finished jobs are run by id, in the calling thread."""

    @hookimpl
    def opencrm_dispatch_job(self, crm: CRM, job: Any) -> bool:
        return True


class World:
    """Ids of a few records of every kind, created by the admin, and a few by the plain user."""

    def __init__(self, crm: CRM, telephony: FakeTelephony) -> None:
        self.crm = crm
        s = crm.session(ADMIN)
        a = crm.session(PLAIN)
        self.tag = s.lists.add_tag("vip").id
        self.tag2 = s.lists.add_tag("spare").id
        self.contact_type = s.lists.add("contact_type", "Fuzz client").id
        self.doomed_item = s.lists.add("contact_type", "Doomed").id
        self.temperature = s.lists.add("temperature", "Fuzz warm", color="#ff0000").id
        self.task_category = s.lists.add("task_category", "Fuzz call").id
        self.history_category = s.lists.add("history_category", "Fuzz note").id
        self.field = s.fields.add("contact", "Shoe size", "text").id
        self.deal_field = s.fields.add("opportunity", "Region", "text").id
        self.company = s.contacts.add_company("Acme", email="info@acme.example", tags={"vip"}).id
        person = s.contacts.add_person(
            "Bob", "Smith", company=self.company, email="bob@acme.example", phone="+4930123456"
        )
        self.person = person.id
        self.info = person.infos[0].id
        self.own_contact = a.contacts.add_person("Alma", "Own").id
        self.merge_source = a.contacts.add_person("Alma", "Twin").id
        self.doomed_contact = a.contacts.add_person("Dora", "Doomed").id
        self.stage = s.stages.list()[0].id
        self.opportunity = s.opportunities.add(
            "Deal", contact=self.company, budget=Money("100", s.currencies.default())
        ).id
        self.case = s.cases.add("Broken", members=[self.person]).id
        self.own_case = a.cases.add("Mine").id
        self.document = s.cases.attach(self.case, PDF, "spec.pdf").id
        due = dt.datetime(2030, 1, 15, 9, tzinfo=UTC)
        self.task = s.tasks.add("Call back", due, contact=self.person, responsible="admin").id
        self.own_task = a.tasks.add("Mine", due).id
        event = s.history.add(
            "Met", self.history_category, contact=self.person, files=[("a.pdf", PDF)]
        )
        self.event = event.id
        self.event_file = s.history.get(self.event).files[0].id
        self.tax = s.taxes.add("VAT", "20").id
        self.tax2 = s.taxes.add("Reduced", "7").id
        self.product = s.products.add("Widget", "10", taxes=[self.tax]).id
        self.default_currency = s.currencies.default()
        self.other_currency = "USD" if self.default_currency != "USD" else "EUR"
        s.currencies.set_rate(self.other_currency, self.default_currency, "1.1")
        s.contacts.set_photo(self.person, PNG)
        self.invoice = s.invoices.add(
            client=self.company, lines=[{"description": "Support", "quantity": 2, "price": "5"}]
        ).id
        billed = s.invoices.add(client=self.company, lines=[{"product": self.product}])
        self.billed_invoice = s.invoices.set_status(billed.id, "billed").id
        # telephony: a connected account, a number answered by the admin, the plain user and bob,
        # one number owned but not linked, and one outgoing call
        s.voip.connect(account_sid="AC1", auth_token="token", public_url=PUBLIC, provider="fake")
        self.number = s.voip.buy_number("+15550000001", alias="Sales").id
        self.doomed_number = s.voip.buy_number("+15550000002").id
        self.released_number = s.voip.buy_number("+15550000003").id
        self.unlinked_sid = telephony.buy_number("+15550000004", WEBHOOKS).sid
        for user in ("admin", "alice", "bob"):
            s.voip.add_operator(self.number, user, status="online")
        self.call = s.voip.call("+4930123456").id
        # jobs: the plain user's finished export (with its file), a finished one to delete,
        # and one still queued
        self.job, self.doomed_job = (self._finished(a) for _ in range(2))
        self.queued_job = a.exports.start("contacts").id
        # reports: two of the admin's generated reports, one to read and one to delete
        self.report, self.doomed_report = (
            s.reports.generate("contacts_by_managers").id for _ in range(2)
        )
        # web forms: one to read and change, one to delete
        self.web_form, self.doomed_web_form = (
            s.web_forms.add(name, fields=["email"]).id for name in ("Contact", "Doomed")
        )

    def _finished(self, session: Session) -> int:
        job = session.exports.start("contacts", format="xlsx")
        ran = self.crm.jobs.run(job.id)
        assert ran is not None
        assert ran.result is not None
        return job.id


# --- watching the database: what a failed call changed --------------------------------------

_READS = ("SELECT", "PRAGMA", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "SET", "SHOW", "LOCK")


class WriteWatch:
    """Counts committed transactions that changed rows, from the engine's events."""

    def __init__(self, engine: sa.Engine) -> None:
        self.committed_writes = 0
        sa.event.listen(engine, "after_cursor_execute", self._executed)
        sa.event.listen(engine, "commit", self._commit)
        sa.event.listen(engine, "rollback", self._rollback)

    def _executed(self, conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip()[:9].upper().startswith(_READS):
            return
        if cursor.rowcount != 0:
            conn.info["fuzz_dirty"] = True

    def _commit(self, conn) -> None:  # type: ignore[no-untyped-def]
        if conn.info.pop("fuzz_dirty", False):
            self.committed_writes += 1

    def _rollback(self, conn) -> None:  # type: ignore[no-untyped-def]
        conn.info.pop("fuzz_dirty", None)


def fingerprint(engine: sa.Engine) -> dict[str, int]:
    """The row count of every table, in one query. (Changed rows are caught exactly, call
    by call, by :class:`WriteWatch`; this is the second net, taken per method.)"""
    query = " UNION ALL ".join(
        f"SELECT '{t.name}', count(*) FROM \"{t.name}\"" for t in metadata.sorted_tables
    )
    with engine.connect() as conn:
        return {str(name): int(count) for name, count in conn.exec_driver_sql(query)}


class Target:
    """One backend: a seeded CRM, the sessions of the acting users and a write watch."""

    def __init__(self, name: str, engine: sa.Engine, files: Path) -> None:
        self.name = name
        self.engine = engine
        provider = FakeProvider()
        self.crm = CRM(
            engine,
            load_entrypoints=False,
            directory=InMemoryUserDirectory(USERS),
            notifier=OutboxNotifier(),
            file_store=LocalFileStore(files),
            plugins=[HeldJobs(), provider],
        )
        self.world = World(self.crm, provider.telephony)
        self.sessions = {u.id: self.crm.session(u) for u in (ADMIN, PLAIN)}
        self.watch = WriteWatch(engine)
        self.calls = 0
        self.seconds = 0.0


# --- the call table ---------------------------------------------------------------------------

W = World
NO_ARGS: Callable[[W], dict[str, Any]] = lambda w: {}  # noqa: E731


def _keys(*names: str) -> tuple[str, ...]:
    return tuple(sorted(names))


LINE = {"description": "Work", "quantity": "2", "price": "10", "discount": "0", "taxes": None}
INFO = {"type": "email", "value": "x@example.com", "category": "work", "primary": False}
ADDRESS = {"street": "1 Main St", "city": "Town", "postcode": "12345", "country": "DE"}

PERSON_FIELDS = _keys(*(contacts_module._PERSON - {"first_name", "last_name", "job_title"}))
COMPANY_FIELDS = _keys(*(contacts_module._COMPANY - {"name", "industry"}))
UPDATE_FIELDS = _keys(*contacts_module._PERSON)
INVOICE_FIELDS = _keys(*(invoices_module._INVOICE_FIELDS - {"client", "lines"}))
PRODUCT_FIELDS = _keys(*invoices_module._PRODUCT_FIELDS)
DEAL_FIELDS = _keys(*opportunities_module._FIELDS)
CASE_FIELDS = _keys(*cases_module._FIELDS)
TASK_FIELDS = _keys(*tasks_module._FIELDS)
EVENT_FIELDS = _keys(*history_module._FIELDS)
STAGE_FIELDS = _keys(*opportunities_module.StageService._CHANGEABLE)
LIST_ITEM_FIELDS = _keys("title", "description", "color", "icon", "sort_order")
HOURS = {"start": "09:00", "end": "18:00", "timezone": "Europe/Paris"}
NUMBER_FIELDS = (
    *_keys(*voip_module._NUMBER_FIELDS),
    *(f"working_hours.{k}" for k in HOURS),
)
OPERATOR_FIELDS = _keys(*voip_module._OPERATOR_FIELDS)
WEB_FORM_FIELDS = _keys(*web_forms_module._EDITABLE)
PUBLIC = "https://crm.example.com/crm"
WEBHOOKS = WebhookUrls(
    voice=f"{PUBLIC}/voip/webhooks/voice", status=f"{PUBLIC}/voip/webhooks/status"
)


class Spec:
    """How to call one method: valid arguments by name, and the extra keys (``**fields``,
    ``**filters``, nested ``lines.0.price``...) that get a hostile value one at a time."""

    def __init__(self, valid: Callable[[W], dict[str, Any]], extra: tuple[str, ...] = ()) -> None:
        self.valid = valid
        self.extra = extra


def _filters(svc: Any) -> tuple[str, ...]:
    return _keys(*svc._FILTERS)


SPECS: dict[str, Spec] = {
    # contacts
    "contacts.add_company": Spec(
        lambda w: {"name": "Fuzz Co"},
        (*COMPANY_FIELDS, "custom.Shoe size", *(f"infos.0.{k}" for k in INFO)),
    ),
    "contacts.add_info": Spec(
        lambda w: {"contact_id": w.person, "type": "email", "value": "b@x.org"}
    ),
    "contacts.add_person": Spec(
        lambda w: {"first_name": "Fuzz"},
        (*PERSON_FIELDS, "custom.Shoe size", *(f"infos.0.{k}" for k in INFO)),
    ),
    "contacts.count": Spec(NO_ARGS, (*_filters(contacts_module), "custom.Shoe size")),
    "contacts.duplicates": Spec(NO_ARGS),
    "contacts.duplicates_of": Spec(
        lambda w: {"first_name": "Bob", "last_name": "Smith", "company": w.company}
    ),
    "contacts.group_add_tag": Spec(lambda w: {"tag": "vip", "ids": [w.own_contact]}),
    "contacts.group_add_task": Spec(
        lambda w: {
            "title": "Call",
            "due": dt.datetime(2030, 1, 15, 9, tzinfo=UTC),
            "ids": [w.own_contact],
        },
        _keys(*(set(tasks_module._FIELDS) - {"title", "due", "contact"})),
    ),
    "contacts.group_delete": Spec(lambda w: {"ids": [w.doomed_contact]}),
    "contacts.group_remove_tag": Spec(lambda w: {"tag": "vip", "ids": [w.own_contact]}),
    "contacts.group_set_access": Spec(lambda w: {"ids": [w.own_contact]}),
    "contacts.group_set_temperature": Spec(
        lambda w: {"temperature": w.temperature, "ids": [w.own_contact]}
    ),
    "contacts.names": Spec(lambda w: {"contact_ids": [w.person, w.own_contact]}),
    "contacts.merge": Spec(lambda w: {"source": w.merge_source, "into": w.own_contact}),
    "contacts.custom_values": Spec(lambda w: {"contact": w.person}),
    "contacts.delete": Spec(lambda w: {"contact_id": w.own_contact}),
    "contacts.get": Spec(lambda w: {"contact_id": w.person}),
    "contacts.list": Spec(NO_ARGS, (*_filters(contacts_module), "custom.Shoe size")),
    "contacts.photo": Spec(lambda w: {"contact_id": w.person}),
    "contacts.photo_info": Spec(lambda w: {"contact_id": w.person}),
    "contacts.remove_info": Spec(lambda w: {"contact_id": w.person, "info_id": w.info}),
    "contacts.remove_photo": Spec(lambda w: {"contact_id": w.person}),
    "contacts.search": Spec(lambda w: {"text": "Bob"}),
    "contacts.set_access": Spec(lambda w: {"contact_id": w.own_contact}),
    "contacts.set_photo": Spec(lambda w: {"contact_id": w.person, "data": PNG}),
    "imports.start": Spec(
        lambda w: {
            "kind": "contacts",
            "file": b"First,Email\nAda,ada@example.com\n",
            "mapping": {"first_name": "First", "email": "Email"},
            "defaults": {"tags": ["fuzz"]},
            "reader": {"encoding": "utf-8"},
        }
    ),
    "contacts.update": Spec(
        lambda w: {"contact_id": w.person}, (*UPDATE_FIELDS, "custom.Shoe size")
    ),
    "contacts.update_info": Spec(lambda w: {"contact_id": w.person, "info_id": w.info}),
    # lists
    "lists.add": Spec(lambda w: {"kind": "contact_type", "title": "Fuzz type"}),
    "lists.add_tag": Spec(lambda w: {"title": "fuzz"}),
    "lists.delete": Spec(lambda w: {"item_id": w.doomed_item, "move_to": w.contact_type}),
    "lists.delete_tag": Spec(lambda w: {"tag_id": w.tag2}),
    "lists.delete_unused_tags": Spec(NO_ARGS),
    "lists.items": Spec(lambda w: {"kind": "contact_type"}),
    "lists.rename_tag": Spec(lambda w: {"tag_id": w.tag, "title": "vip"}),
    "lists.stages": Spec(NO_ARGS),
    "lists.tags": Spec(NO_ARGS),
    "lists.update": Spec(lambda w: {"item_id": w.contact_type}, LIST_ITEM_FIELDS),
    # custom fields and settings
    "fields.add": Spec(
        lambda w: {"entity_type": "contact", "label": "Fuzz", "type": "text"},
        ("options.choices",),
    ),
    "fields.delete": Spec(lambda w: {"field_id": w.deal_field}),
    "fields.list": Spec(NO_ARGS),
    "fields.update": Spec(lambda w: {"field_id": w.field}),
    "settings.audit_trail": Spec(NO_ARGS),
    "settings.regional": Spec(NO_ARGS),
    "settings.set_regional": Spec(lambda w: {"locale": "de_DE", "time_zone": "Europe/Berlin"}),
    "settings.get": Spec(lambda w: {"key": "module_access"}),
    "settings.module_access": Spec(NO_ARGS),
    "settings.set_module_access": Spec(lambda w: {"rule": ModuleAccess()}),
    # invoices
    "invoices.add": Spec(
        lambda w: {"client": w.company, "lines": [dict(LINE)]},
        (*INVOICE_FIELDS, *(f"lines.0.{k}" for k in (*LINE, "product"))),
    ),
    "invoices.count": Spec(NO_ARGS, _filters(invoices_module)),
    "invoices.default_terms": Spec(NO_ARGS),
    "invoices.delete": Spec(lambda w: {"invoice_id": w.billed_invoice}),
    "invoices.document": Spec(lambda w: {"invoice_id": w.invoice}),
    "invoices.html": Spec(lambda w: {"invoice_id": w.invoice}),
    "invoices.pdf": Spec(lambda w: {"invoice_id": w.invoice}),
    "invoices.duplicate": Spec(lambda w: {"invoice_id": w.invoice}),
    "invoices.get": Spec(lambda w: {"invoice_id": w.invoice}),
    "invoices.line": Spec(NO_ARGS),
    "invoices.list": Spec(NO_ARGS, _filters(invoices_module)),
    "invoices.numbering": Spec(NO_ARGS),
    "invoices.organisation": Spec(NO_ARGS),
    "invoices.rounding": Spec(NO_ARGS),
    "invoices.send": Spec(lambda w: {"invoice_id": w.billed_invoice, "to": "c@x.org"}),
    "invoices.set_default_terms": Spec(lambda w: {"terms": "Pay soon"}),
    "invoices.set_numbering": Spec(NO_ARGS),
    "invoices.set_organisation": Spec(
        lambda w: {"name": "Seller"}, tuple(f"address.{k}" for k in ADDRESS)
    ),
    "invoices.set_rounding": Spec(lambda w: {"mode": "ROUND_HALF_UP"}),
    "invoices.set_status": Spec(lambda w: {"invoice_id": w.billed_invoice, "status": "billed"}),
    "invoices.set_status_many": Spec(
        lambda w: {"invoice_ids": [w.billed_invoice], "status": "billed"}
    ),
    "invoices.update": Spec(lambda w: {"invoice_id": w.invoice}, INVOICE_FIELDS),
    "products.add": Spec(lambda w: {"title": "Gadget", "price": "3"}),
    "products.delete": Spec(lambda w: {"product_id": w.product}),
    "products.get": Spec(lambda w: {"product_id": w.product}),
    "products.list": Spec(NO_ARGS),
    "products.update": Spec(lambda w: {"product_id": w.product}, PRODUCT_FIELDS),
    "taxes.add": Spec(lambda w: {"name": "Fuzz tax", "rate": "5"}),
    "taxes.delete": Spec(lambda w: {"tax_id": w.tax}),
    "taxes.get": Spec(lambda w: {"tax_id": w.tax}),
    "taxes.list": Spec(NO_ARGS),
    "taxes.update": Spec(lambda w: {"tax_id": w.tax2}),
    "currencies.convert": Spec(
        lambda w: {"amount": Money("10", w.other_currency), "to_currency": w.default_currency}
    ),
    "currencies.convert_all": Spec(
        lambda w: {"amounts": [Money("10", w.other_currency)], "to_currency": w.default_currency}
    ),
    "currencies.default": Spec(NO_ARGS),
    "currencies.list": Spec(NO_ARGS),
    "currencies.rates": Spec(NO_ARGS),
    "currencies.set_default": Spec(lambda w: {"currency": w.default_currency}),
    "currencies.set_rate": Spec(
        lambda w: {
            "from_currency": w.other_currency,
            "to_currency": w.default_currency,
            "rate": "1.1",
        }
    ),
    # opportunities and stages
    "opportunities.add": Spec(
        lambda w: {"title": "Fuzz deal", "contact": w.company},
        (
            *(k for k in DEAL_FIELDS if k not in ("title", "contact", "budget", "stage")),
            "custom.Region",
        ),
    ),
    "opportunities.count": Spec(NO_ARGS, (*_filters(opportunities_module), "custom.Region")),
    "opportunities.custom_values": Spec(lambda w: {"opportunity": w.opportunity}),
    "opportunities.delete": Spec(lambda w: {"opportunity_id": w.opportunity}),
    "opportunities.get": Spec(lambda w: {"opportunity_id": w.opportunity}),
    "opportunities.list": Spec(NO_ARGS, (*_filters(opportunities_module), "custom.Region")),
    "opportunities.project": Spec(lambda w: {"opportunity": w.opportunity}),
    "opportunities.search": Spec(lambda w: {"text": "Deal"}),
    "opportunities.set_access": Spec(lambda w: {"opportunity_id": w.opportunity}),
    "opportunities.set_stage": Spec(lambda w: {"opportunity_id": w.opportunity, "stage": w.stage}),
    "opportunities.update": Spec(
        lambda w: {"opportunity_id": w.opportunity}, (*DEAL_FIELDS, "custom.Region")
    ),
    "stages.add": Spec(lambda w: {"title": "Fuzz stage", "color": "#00ff00"}),
    "stages.delete": Spec(lambda w: {"stage_id": w.stage}),
    "stages.list": Spec(NO_ARGS),
    "stages.update": Spec(lambda w: {"stage_id": w.stage}, STAGE_FIELDS),
    # cases
    "cases.add": Spec(lambda w: {"title": "Fuzz case"}, _keys(*(cases_module._FIELDS - {"title"}))),
    "cases.attach": Spec(lambda w: {"case_id": w.case, "data": PDF, "filename": "a.pdf"}),
    "cases.close": Spec(lambda w: {"case_id": w.case}),
    "cases.count": Spec(NO_ARGS, _filters(cases_module)),
    "cases.custom_values": Spec(lambda w: {"case": w.case}),
    "cases.delete": Spec(lambda w: {"case_id": w.own_case}),
    "cases.documents": Spec(lambda w: {"case_id": w.case}),
    "cases.get": Spec(lambda w: {"case_id": w.case}),
    "cases.list": Spec(NO_ARGS, _filters(cases_module)),
    "cases.open_document": Spec(lambda w: {"case_id": w.case, "document_id": w.document}),
    "cases.remove_document": Spec(lambda w: {"case_id": w.case, "document_id": w.document}),
    "cases.reopen": Spec(lambda w: {"case_id": w.case}),
    "cases.search": Spec(lambda w: {"text": "Broken"}),
    "cases.set_access": Spec(lambda w: {"case_id": w.case}),
    "cases.update": Spec(lambda w: {"case_id": w.case}, CASE_FIELDS),
    # tasks
    "tasks.add": Spec(
        lambda w: {"title": "Fuzz task", "due": dt.datetime(2030, 2, 1, 9, tzinfo=UTC)},
        _keys(*(tasks_module._FIELDS - {"title", "due"})),
    ),
    "tasks.add_for_contacts": Spec(
        lambda w: {
            "contacts": [w.person],
            "title": "Fuzz task",
            "due": dt.datetime(2030, 2, 1, 9, tzinfo=UTC),
        },
        _keys(*(tasks_module._FIELDS - {"title", "due", "contact"})),
    ),
    "tasks.calendar": Spec(NO_ARGS),
    "tasks.close": Spec(lambda w: {"task_id": w.task}),
    "tasks.count": Spec(NO_ARGS, _filters(tasks_module)),
    "tasks.delete": Spec(lambda w: {"task_id": w.own_task}),
    "tasks.get": Spec(lambda w: {"task_id": w.task}),
    "tasks.list": Spec(NO_ARGS, _filters(tasks_module)),
    "tasks.reopen": Spec(lambda w: {"task_id": w.task}),
    "tasks.update": Spec(lambda w: {"task_id": w.task}, TASK_FIELDS),
    # history
    "history.add": Spec(
        lambda w: {"content": "Fuzz", "category": w.history_category, "contact": w.person},
        ("files.0.0", "files.0.1"),
    ),
    "history.attach": Spec(lambda w: {"event_id": w.event, "data": PDF, "name": "b.pdf"}),
    "history.count": Spec(NO_ARGS, _filters(history_module)),
    "history.delete": Spec(lambda w: {"event_id": w.event}),
    "history.get": Spec(lambda w: {"event_id": w.event}),
    "history.list": Spec(NO_ARGS, _filters(history_module)),
    "history.open_file": Spec(lambda w: {"event_id": w.event, "file_id": w.event_file}),
    "history.remove_file": Spec(lambda w: {"event_id": w.event, "file_id": w.event_file}),
    "history.update": Spec(lambda w: {"event_id": w.event}, EVENT_FIELDS),
    # telephony
    "voip.account": Spec(NO_ARGS),
    "voip.add_operator": Spec(lambda w: {"number": w.number, "user": "carol"}, OPERATOR_FIELDS),
    "voip.available_numbers": Spec(NO_ARGS),
    "voip.buy_number": Spec(lambda w: {"number": "+15550000010"}, NUMBER_FIELDS),
    "voip.call": Spec(lambda w: {"to": "+4930123456"}),
    "voip.calls": Spec(NO_ARGS, _keys(*voip_module._CALL_FILTERS)),
    "voip.connect": Spec(
        lambda w: {
            "account_sid": "AC1",
            "auth_token": "token",
            "public_url": PUBLIC,
            "provider": "fake",
        }
    ),
    "voip.count_calls": Spec(NO_ARGS, _keys(*voip_module._CALL_FILTERS)),
    "voip.delete_number": Spec(lambda w: {"number_id": w.doomed_number}),
    "voip.disconnect": Spec(NO_ARGS),
    "voip.get_call": Spec(lambda w: {"call_id": w.call}),
    "voip.get_number": Spec(lambda w: {"number_id": w.number}),
    "voip.get_operator": Spec(lambda w: {"user": "alice"}),
    "voip.link_number": Spec(lambda w: {"sid": w.unlinked_sid}, NUMBER_FIELDS),
    "voip.missed_calls": Spec(NO_ARGS),
    "voip.numbers": Spec(NO_ARGS),
    "voip.operators": Spec(NO_ARGS),
    "voip.owned_numbers": Spec(NO_ARGS),
    "voip.release_number": Spec(lambda w: {"number_id": w.released_number}),
    "voip.remove_operator": Spec(lambda w: {"user": "bob"}),
    "voip.set_status": Spec(lambda w: {"status": "online"}),
    "voip.update_number": Spec(lambda w: {"number_id": w.number}, NUMBER_FIELDS),
    "voip.update_operator": Spec(lambda w: {"user": "alice"}, OPERATOR_FIELDS),
    # jobs and exports
    "imports.run": Spec(
        lambda w: {
            "kind": "contacts",
            "rows": [SourceRow(2, {"First": "Fuzz", "E-mail": "fuzz@example.com"})],
            "mapping": {"first_name": "First", "email": "E-mail"},
        }
    ),
    "exports.start": Spec(
        lambda w: {"entity": "contacts"},
        (*_filters(contacts_module), "custom.Shoe size", "limit", "after"),
    ),
    "exports.start_full": Spec(NO_ARGS),
    "reports.types": Spec(NO_ARGS),
    "reports.build": Spec(lambda w: {"name": "sales_funnel", "period": "this_month"}),
    "reports.generate": Spec(lambda w: {"name": "contacts_by_managers"}),
    "reports.start": Spec(lambda w: {"name": "contacts_by_managers", "period": "this_month"}),
    "reports.list": Spec(NO_ARGS),
    "reports.get": Spec(lambda w: {"report_id": w.report}),
    "reports.download": Spec(lambda w: {"report_id": w.report}),
    "reports.delete": Spec(lambda w: {"report_id": w.doomed_report}),
    "jobs.cancel": Spec(lambda w: {"job_id": w.queued_job}),
    "jobs.delete": Spec(lambda w: {"job_id": w.doomed_job}),
    "jobs.download": Spec(lambda w: {"job_id": w.job}),
    "jobs.get": Spec(lambda w: {"job_id": w.job}),
    "jobs.list": Spec(NO_ARGS),
    # mass mail
    "mass_mail.preview": Spec(
        lambda w: {
            "contact": w.person,
            "subject": "Hi {{first_name}}",
            "text": "Dear {{name}}",
            "html": "<p>{{custom:Shoe size}}</p>",
        }
    ),
    "mass_mail.start": Spec(
        lambda w: {"subject": "Hi", "text": "Dear {{name}}", "ids": [w.person], "history": True}
    ),
    "mass_mail.senders": Spec(NO_ARGS),
    "mass_mail.set_senders": Spec(lambda w: {"rule": ModuleAccess.only(users={"alice"})}),
    "search.everything": Spec(lambda w: {"text": "Bob"}),
    # web forms
    "web_forms.add": Spec(lambda w: {"name": "Fuzz form"}, WEB_FORM_FIELDS),
    "web_forms.list": Spec(NO_ARGS),
    "web_forms.get": Spec(lambda w: {"form_id": w.web_form}),
    "web_forms.update": Spec(lambda w: {"form_id": w.web_form}, WEB_FORM_FIELDS),
    "web_forms.rotate_key": Spec(lambda w: {"form_id": w.web_form}),
    "web_forms.snippet": Spec(
        lambda w: {"form_id": w.web_form, "action": "https://crm.example/web-forms/post"}
    ),
    "web_forms.delete": Spec(lambda w: {"form_id": w.doomed_web_form}),
}

#: Methods deliberately not fuzzed, each with the reason. Empty: every method is.
NOT_FUZZED: dict[str, str] = {}

#: Templates of the nested values a dotted slot (``lines.0.price``) is planted in.
NESTED: dict[str, Any] = {
    "infos": [INFO],
    "lines": [LINE],
    "address": ADDRESS,
    "options": {"choices": ["a", "b"]},
    "files": [("a.pdf", PDF)],
    "custom": {},
    "working_hours": HOURS,
}


def public_methods(session: Session) -> dict[str, Callable[..., Any]]:
    """Every public method of every service on ``session``, as ``service.method``."""
    found: dict[str, Callable[..., Any]] = {}
    for area, service in vars(session).items():
        if area == "user":
            continue
        for name, member in inspect.getmembers(service, callable):
            if not name.startswith("_"):
                found[f"{area}.{name}"] = member
    return found


def slots(method: str, fn: Callable[..., Any]) -> tuple[str, ...]:
    """The arguments of ``method`` that get hostile values: its named parameters, then the
    documented keys of its ``**fields`` / ``**filters`` and of its nested values."""
    params = inspect.signature(fn).parameters.values()
    named = [p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    extra = SPECS[method].extra
    return tuple(dict.fromkeys([*named, *extra, *(["after"] if "after" in named else [])]))


def _plant(container: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(container, (list, tuple)):
        items = list(container)
        index = int(head)
        items[index] = _plant(items[index], rest, value)
        return type(container)(items)
    new = dict(container)
    new[head] = _plant(new.get(head, {}), rest, value)
    return new


def build_call(
    fn: Callable[..., Any], valid: dict[str, Any], slot: str, value: Any
) -> tuple[list[Any], dict[str, Any]]:
    args = dict(valid)
    root, _, rest = slot.partition(".")
    if rest:
        base = copy.deepcopy(args.get(root, NESTED[root]))
        args[root] = _plant(base, rest.split("."), value)
    else:
        args[root] = value
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    in_order = True
    for p in inspect.signature(fn).parameters.values():
        if p.kind is p.POSITIONAL_OR_KEYWORD and in_order and p.name in args:
            positional.append(args.pop(p.name))
        elif p.kind is p.POSITIONAL_OR_KEYWORD:
            in_order = False
    keywords.update(args)
    return positional, keywords


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}...({len(text)} chars)"


def error_fields(exc: OpenCRMError) -> object:
    """What a caller can read off an error, for comparing two backends."""
    if isinstance(exc, ValidationError):
        return tuple(sorted((k, _short(v)) for k, v in exc.errors.items()))
    if isinstance(exc, NotFound):
        return (exc.entity, _short(exc.ident))
    if isinstance(exc, InvalidTransition):
        return (exc.entity, exc.current, exc.requested)
    if isinstance(exc, MissingExchangeRates):
        return exc.pairs
    return _short(str(exc))


Outcome = tuple[str, object]


def run_one(
    target: Target, user: str, method: str, slot: str, label: str, value: Any
) -> tuple[Outcome, str | None]:
    """Make one call; return its outcome and, when it broke a rule, what went wrong."""
    session = target.sessions[user]
    area, name = method.split(".")
    fn = getattr(getattr(session, area), name)
    positional, keywords = build_call(fn, SPECS[method].valid(target.world), slot, value)
    where = f"[{target.name}] {user}: {method}({slot}={label})"
    writes = target.watch.committed_writes
    start = time.perf_counter()
    try:
        fn(*positional, **keywords)
    except StorageError as exc:
        return ("StorageError", str(exc)), f"{where} raised StorageError: {_short(str(exc))}"
    except OpenCRMError as exc:
        outcome: Outcome = (type(exc).__name__, error_fields(exc))
        if target.watch.committed_writes != writes:
            return outcome, f"{where} failed with {type(exc).__name__} but committed a change"
        return outcome, None
    except Exception as exc:
        return (
            (type(exc).__name__, "untyped"),
            f"{where} raised {type(exc).__module__}.{type(exc).__name__}: {_short(str(exc))}",
        )
    finally:
        target.calls += 1
        target.seconds += time.perf_counter() - start
    return ("ok", None), None


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Target]]:
    """A seeded CRM on SQLite and (when a server answers, always under CI) PostgreSQL, each in
    its own file / schema, shared by every test of this module."""
    made: dict[str, Target] = {}
    root = tmp_path_factory.mktemp("fuzz")
    engine = create_engine_for(f"sqlite:///{root / 'fuzz.db'}")
    from opencrm.storage.sqlalchemy.engine import upgrade

    upgrade(engine)
    made["sqlite"] = Target("sqlite", engine, root / "files-sqlite")
    pg: PgDatabase | None = None
    problem = _pg_available()
    if problem is None:
        pg = PgDatabase()
        made["postgresql"] = Target("postgresql", pg.engine, root / "files-pg")
    elif IN_CI:
        pytest.fail(f"CI needs PostgreSQL: {problem}")
    yield made
    for t in made.values():  # shown with -s: the figures the run is kept within
        print(f"\nfuzz {t.name}: {t.calls} calls, {t.seconds:.1f}s in service calls")
    engine.dispose()
    if pg is not None:
        pg.drop()
    shutil.rmtree(root, ignore_errors=True)


# --- the tests -------------------------------------------------------------------------------


def test_every_public_method_is_fuzzed(targets: dict[str, Target]) -> None:
    methods = set(public_methods(targets["sqlite"].sessions["admin"]))
    assert methods - set(SPECS) - set(NOT_FUZZED) == set(), "add these to SPECS"
    assert set(SPECS) - methods == set(), "SPECS names methods that no longer exist"
    assert not set(SPECS) & set(NOT_FUZZED)


#: Values every argument gets; the rest of the corpus is spread over the arguments in turn
#: (each gets one in ``ROTATION``), which keeps both backends within about a minute.
CORE = (
    "None",
    "str NUL",
    "str lone surrogate",
    "int 2**63",
    "True",
    "Decimal 1e1000000",
    "list",
    "object",
)
ROTATION = 10


def plan(method: str, fn: Callable[..., Any]) -> list[tuple[str, str, str]]:
    """The calls of ``method``: (acting user, argument, hostile value label). Deterministic;
    the users alternate so the plain user meets every kind of value too."""
    calls: list[tuple[str, str, str]] = []
    start = zlib.crc32(method.encode())
    for i, slot in enumerate(slots(method, fn)):
        rest = [label for label in HOSTILE if label not in CORE]
        chosen = [*CORE, *rest[(start + i) % ROTATION :: ROTATION]]
        if slot == "after":
            chosen += list(CURSORS)
        for j, label in enumerate(chosen):
            calls.append((("admin", "alice")[(i + j) % 2], slot, label))
    return calls


def value_of(label: str) -> Any:
    return CURSORS[label] if label in CURSORS else HOSTILE[label]


@pytest.mark.parametrize("method", sorted(SPECS))
def test_hostile_values_get_typed_errors_on_both_backends(
    targets: dict[str, Target], method: str
) -> None:
    problems: list[str] = []
    outcomes: dict[str, list[Outcome]] = {}
    calls: list[tuple[str, str, str]] = []
    for backend, target in targets.items():
        fn = public_methods(target.sessions["admin"])[method]
        calls = plan(method, fn)
        before = fingerprint(target.engine)
        got = outcomes[backend] = []
        for user, slot, label in calls:
            outcome, problem = run_one(target, user, method, slot, label, value_of(label))
            got.append(outcome)
            if problem:
                problems.append(problem)
        if all(o[0] != "ok" for o in got) and fingerprint(target.engine) != before:
            problems.append(f"[{backend}] {method}: no call succeeded but rows changed")
    if len(outcomes) == 2:
        for (user, slot, label), a, b in zip(
            calls, outcomes["sqlite"], outcomes["postgresql"], strict=True
        ):
            if a != b:
                problems.append(f"{method} {user}: {slot}={label}: sqlite {a} but postgresql {b}")
    assert not problems, "\n".join(problems)


#: Generated hostile values: any integer, float, decimal, date; text with control characters,
#: lone surrogates, format characters and non-ASCII digits; bytes; small lists and dicts.
GENERATED = st.one_of(
    st.integers(),
    st.floats(),
    st.decimals(),
    st.text(st.characters(categories=["Cc", "Cs", "Cf", "Zs", "Nd", "Lo", "So"]), max_size=40),
    st.dates(),
    st.datetimes(timezones=st.none() | st.just(UTC)),
    st.binary(max_size=32),
    st.lists(st.integers() | st.text(max_size=4) | st.none(), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=4), max_size=3),
    st.sampled_from(list(HOSTILE.values())),
)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_generated_values_get_typed_errors_on_both_backends(
    targets: dict[str, Target], data: st.DataObject
) -> None:
    methods = public_methods(targets["sqlite"].sessions["admin"])
    # Methods without arguments (stages.list, taxes.list, ...) have nothing to fuzz here.
    method = data.draw(
        st.sampled_from(sorted(m for m in SPECS if slots(m, methods[m]))), label="method"
    )
    fn = methods[method]
    slot = data.draw(st.sampled_from(slots(method, fn)), label="argument")
    value = data.draw(GENERATED, label="value")
    user = data.draw(st.sampled_from(["admin", "alice"]), label="user")
    problems: list[str] = []
    outcomes: list[Outcome] = []
    for target in targets.values():
        outcome, problem = run_one(target, user, method, slot, _short(value), value)
        outcomes.append(outcome)
        if problem:
            problems.append(problem)
    if len(set(outcomes)) > 1:
        problems.append(f"{method}({slot}={_short(value)}): outcomes differ: {outcomes}")
    assert not problems, "\n".join(problems)
