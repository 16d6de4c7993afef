"""Website contact forms (S8): admins build them; visitors' posts become contacts.

``session.web_forms`` is the admin side (forms, their keys, the HTML snippet);
:func:`submit` is the public side, reached through :meth:`opencrm.CRM.web_form_post`.
"""

from __future__ import annotations

import datetime as dt
import hmac
import html
import ipaddress
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs

from opencrm.core import contact_data as cd
from opencrm.core._inputs import clean_id, clean_int, multi_line, single_line
from opencrm.core.entities.contacts import Access, Company, Person
from opencrm.core.entities.web_forms import WebForm, WebFormKind, WebFormResult
from opencrm.core.services._base import Context, Service, Tx
from opencrm.core.services.contacts import ContactService
from opencrm.core.services.history import HistoryService
from opencrm.core.users import User
from opencrm.errors import NotFound, PermissionDenied, RateLimited, ValidationError

__all__ = [
    "FORM_FIELD",
    "HONEYPOT",
    "KEY_FIELD",
    "MAX_POST_CHARS",
    "RETURN_FIELD",
    "WEB_FORM_USER",
    "WebFormService",
    "client_key",
    "submit",
]

#: The hidden inputs every snippet carries, and the honeypot a person never fills in.
FORM_FIELD = "opencrm_form"
KEY_FIELD = "opencrm_key"
RETURN_FIELD = "opencrm_return"
HONEYPOT = "opencrm_homepage"
#: Contacts, companies and history events written by posts are written as this user.
WEB_FORM_USER = User(id="opencrm-web-form", name="Website contact form", crm_admin=True)
#: The most characters a post may hold in all its values together, and its most fields.
MAX_POST_CHARS = 20_000
MAX_POST_FIELDS = 60
#: The most characters of the ``about`` message (names and the like keep the API's 255).
MAX_MESSAGE = 10_000
#: The history category posts are recorded under.
CATEGORY = "Note"

_PERSON_FIELDS = (
    "first_name",
    "last_name",
    "job_title",
    "company",
    "email",
    "phone",
    "website",
    "about",
)
_COMPANY_FIELDS = ("name", "industry", "email", "phone", "website", "about")
_LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "job_title": "Job title",
    "company": "Company",
    "name": "Company name",
    "industry": "Industry",
    "email": "Email",
    "phone": "Phone",
    "website": "Website",
    "about": "Message",
}
_EDITABLE = (
    "name",
    "fields",
    "required",
    "tags",
    "managers",
    "access",
    "notify",
    "return_urls",
    "rate_limit",
)
_WINDOW = dt.timedelta(hours=1)


def _new_key() -> str:
    return secrets.token_urlsafe(24)


class WebFormService:
    """Website contact forms, for CRM admins. Reached as ``session.web_forms``."""

    def __init__(self, service: Service) -> None:
        self._s = service

    def add(
        self,
        name: str,
        *,
        kind: WebFormKind | str = WebFormKind.PERSON,
        fields: Iterable[str] = (),
        required: Iterable[str] = (),
        tags: Iterable[str] = (),
        managers: Iterable[str] = (),
        access: Access | str = Access.PRIVATE,
        notify: Iterable[str] = (),
        return_urls: Iterable[str] = (),
        rate_limit: int = 10,
    ) -> WebForm:
        """Build a form (see :class:`~opencrm.WebForm` for what each part means) with a new
        random key. ``managers`` defaults to the admin creating it."""
        with self._s._tx() as tx:
            _admin(tx)
            try:
                kind = WebFormKind(kind)
            except ValueError:
                raise ValidationError({"kind": "must be person or company"}) from None
            blank = WebForm(
                id=0,
                name="",
                kind=kind,
                fields=(),
                key=_new_key(),
                created_by=tx.actor.id,
                created_at=tx.now,
                updated_by=tx.actor.id,
                updated_at=tx.now,
            )
            changes = {
                "name": name,
                "fields": fields,
                "required": required,
                "tags": tags,
                "managers": managers or (tx.actor.id,),
                "access": access,
                "notify": notify,
                "return_urls": return_urls,
                "rate_limit": rate_limit,
            }
            form = self._apply(tx, blank, changes)
            stored = tx.uow.web_forms.add(form)
            tx.emit("web_form.created", stored, after=_shown(stored))
            return stored

    def list(self) -> Sequence[WebForm]:
        """Every form, by id."""
        with self._s._tx(write=False) as tx:
            _admin(tx)
            return tx.uow.web_forms.list()

    def get(self, form_id: int) -> WebForm:
        with self._s._tx(write=False) as tx:
            _admin(tx)
            return _get(tx, form_id)

    def update(self, form_id: int, **changes: Any) -> WebForm:
        """Change any of ``name``, ``fields``, ``required``, ``tags``, ``managers``,
        ``access``, ``notify``, ``return_urls`` and ``rate_limit`` (the kind is fixed, the
        key changes only with :meth:`rotate_key`)."""
        unknown = sorted(set(changes) - set(_EDITABLE))
        if unknown:
            raise ValidationError(dict.fromkeys(unknown, "cannot be changed"))
        with self._s._tx() as tx:
            _admin(tx)
            before = _get(tx, form_id)
            after = self._apply(tx, before, changes)
            if after == before:
                return before
            after = attrs.evolve(after, updated_by=tx.actor.id, updated_at=tx.now)
            tx.uow.web_forms.update(after)
            tx.emit("web_form.updated", after, before=_shown(before), after=_shown(after))
            return after

    def rotate_key(self, form_id: int) -> WebForm:
        """Give the form a new key: posts from every copy published with the old one are
        refused from now on (publish the new snippet)."""
        with self._s._tx() as tx:
            _admin(tx)
            before = _get(tx, form_id)
            after = attrs.evolve(before, key=_new_key(), updated_by=tx.actor.id, updated_at=tx.now)
            tx.uow.web_forms.update(after)
            tx.emit("web_form.key_rotated", after)
            return after

    def delete(self, form_id: int) -> None:
        """Delete a form: its published copies stop working (contacts it made stay)."""
        with self._s._tx() as tx:
            _admin(tx)
            form = _get(tx, form_id)
            tx.uow.web_forms.delete(form.id)
            tx.emit("web_form.deleted", form, before=_shown(form))

    def snippet(self, form_id: int, action: str) -> str:
        """The HTML to paste into a web page: a ``<form>`` posting to ``action`` (where the
        public route is reached, e.g. ``https://crm.example/crm/web-forms/post``) with the
        form's inputs, its key and the honeypot. Every value in it is escaped."""
        action = _clean_url(action, "action")
        with self._s._tx(write=False) as tx:
            _admin(tx)
            form = _get(tx, form_id)
        return render_snippet(form, action)

    # -- validation --

    def _apply(self, tx: Tx, form: WebForm, changes: Mapping[str, Any]) -> WebForm:
        errors: dict[str, str] = {}
        new: dict[str, Any] = {}

        def check(name: str, fn: Any) -> None:
            if name in changes:
                try:
                    new[name] = fn(changes[name])
                except ValidationError as exc:
                    errors.update(exc.errors)

        check("name", lambda v: single_line(v, "name", required=True))
        check("fields", lambda v: _clean_fields(tx, form.kind, v))
        check("tags", lambda v: tuple(_texts(v, "tags", 100)))
        check("managers", lambda v: self._s._managers(v, "managers"))
        check("notify", lambda v: tuple(sorted(self._s._managers(v, "notify"))))
        check("access", _clean_access)
        check(
            "return_urls",
            lambda v: tuple(
                _clean_url(u, f"return_urls.{n}")
                for n, u in enumerate(_texts(v, "return_urls", 2000))
            ),
        )
        check("rate_limit", lambda v: clean_int(v, "rate_limit", 1, 10_000))
        fields = new.get("fields", form.fields)
        if "required" in changes or "fields" in changes:
            try:
                required = tuple(_texts(changes.get("required", form.required), "required", 300))
                missing = [r for r in required if r not in fields]
                if missing:
                    raise ValidationError(
                        {"required": f"not fields of the form: {', '.join(missing)}"}
                    )
                new["required"] = tuple(dict.fromkeys(required))
            except ValidationError as exc:
                errors.update(exc.errors)
        if errors:
            raise ValidationError(errors)
        return attrs.evolve(form, **new)


# --- the public side ------------------------------------------------------------------------


def client_key(address: str) -> str:
    """What the rate limit counts by: an IPv4 address, or the /64 network of an IPv6 one (a
    single host usually has a whole /64). Anything else (no address) counts as one client."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def submit(ctx: Context, values: Mapping[str, Sequence[str]], client: str) -> WebFormResult:
    """Take one visitor's post (see :meth:`opencrm.CRM.web_form_post`)."""
    service = Service(ctx, WEB_FORM_USER)
    form_id = _form_id(_one(values, FORM_FIELD))
    now = ctx.clock()
    window = now.replace(minute=0, second=0, microsecond=0)
    # The rate limit counts in a transaction of its own, once the form and its key are
    # known and before anything else can fail: oversized and refused posts count too, and
    # so does a post whose storing fails (its attempt was made). Committed at once, the
    # counter row is locked for one statement, not for the whole storing transaction.
    with service._tx() as tx:
        form = tx.uow.web_forms.get(form_id)
        if form is None or not hmac.compare_digest(
            _one(values, KEY_FIELD).encode(), form.key.encode()
        ):
            raise PermissionDenied("this form is no longer valid; reload the page")
        hits = tx.uow.web_forms.hit(form.id, client_key(client), window)
    if hits > form.rate_limit:
        retry = int((window + _WINDOW - now).total_seconds()) + 1
        raise RateLimited("too many posts from this address; try again later", retry_after=retry)
    flat = _flatten(values)
    redirect = _return_url(form, flat.get(RETURN_FIELD))
    if flat.get(HONEYPOT):
        return WebFormResult(outcome="ignored", redirect=redirect)
    data = _read_post(form, flat, ctx.phone_region)
    spam = ctx.hook.opencrm_web_form_spam(crm=ctx.crm, form=form, values=dict(data), client=client)
    if any(spam):
        return WebFormResult(outcome="ignored", redirect=redirect)
    return _store(service, form, data, redirect)


def _store(
    service: Service, form: WebForm, data: dict[str, Any], redirect: str | None
) -> WebFormResult:
    """Store what a checked post becomes, in one transaction: the duplicate check, the
    company found or created, the contact (with the form's tags, managers, access and the
    custom values) or, for a duplicate, nothing new but the history event, and the
    notify list. A failure anywhere stores nothing of it (the rate limit's count stays:
    the attempt was made). The service methods' own checks run inside it, so a post is
    validated exactly as the API validates."""
    contacts = ContactService(service)
    history = HistoryService(service)
    email = data.get("email")
    phone = data.get("phone")
    person = form.kind is WebFormKind.PERSON
    query = contacts._match_query(
        data["first_name"] if person else None,
        data.get("last_name", "") if person else None,
        None if person else data["name"],
        [email] if email else [],
        [phone] if phone else [],
        None,
    )
    with service._tx() as tx:
        twins = contacts._matches(tx, query, 20)
        if twins:
            contact_id = twins[0].contact.id
            outcome = "attached"
        else:
            values: dict[str, Any] = {
                "tags": list(form.tags),
                "managers": set(form.managers),
                "access": form.access,
            }
            if data.get("custom"):
                values["custom"] = data["custom"]
            for key in ("job_title", "industry", "about"):
                if data.get(key):
                    values[key] = data[key]
            if person:
                values.update(
                    first_name=data["first_name"],
                    last_name=data.get("last_name", ""),
                    company=_company(contacts, tx, form, data.get("company")),
                )
            else:
                values["name"] = data["name"]
            contact_id = contacts._add_in(
                tx,
                Person if person else Company,
                values,
                email=email,
                phone=phone,
                website=data.get("website"),
            ).id
            outcome = "created"
        history._create(
            tx,
            {"content": _summary(form, data), "category": CATEGORY, "contact": contact_id},
            form.notify,
        )
        tx.uow.web_forms.count_post(form.id)
        tx.emit(
            "web_form.posted",
            form,
            data={"contact_id": contact_id, "outcome": outcome, "notify": list(form.notify)},
        )
    return WebFormResult(outcome=outcome, redirect=redirect, contact_id=contact_id)


def _company(contacts: ContactService, tx: Tx, form: WebForm, name: str | None) -> int | None:
    """The id of the company a person's post names: a stored one of that name, else a new
    one with the form's tags, managers and access."""
    if not name:
        return None
    query = contacts._match_query(None, None, name, (), (), None)
    for match in contacts._matches(tx, query, 20):
        if isinstance(match.contact, Company):
            return int(match.contact.id)
    created = contacts._add_in(
        tx,
        Company,
        {
            "name": name,
            "tags": list(form.tags),
            "managers": set(form.managers),
            "access": form.access,
        },
    )
    return int(created.id)


def _summary(form: WebForm, data: Mapping[str, Any]) -> str:
    lines = [f"Sent through the website contact form {form.name!r}."]
    for name in form.fields:
        if name.startswith("custom:"):
            value = data.get("custom", {}).get(name.removeprefix("custom:"))
        else:
            value = data.get(name)
        if value not in (None, ""):
            lines.append(f"{_label(name)}: {value}")
    return "\n".join(lines)


def _one(values: Mapping[str, Sequence[str]], name: str) -> str:
    got = values.get(name, ())
    items = [got] if isinstance(got, str) else list(got)
    if len(items) != 1 or not isinstance(items[0], str) or len(items[0]) > 100:
        raise PermissionDenied("this form is no longer valid; reload the page")
    return items[0]


def _flatten(values: Mapping[str, Sequence[str]]) -> dict[str, str]:
    if len(values) > MAX_POST_FIELDS:
        raise ValidationError({"form": f"a post may hold at most {MAX_POST_FIELDS} fields"})
    flat: dict[str, str] = {}
    total = 0
    for key, got in values.items():
        items = [got] if isinstance(got, str) else list(got)
        if len(items) != 1 or not isinstance(items[0], str) or not isinstance(key, str):
            raise ValidationError({str(key)[:100]: "give this field once"})
        total += len(key) + len(items[0])
        flat[key] = items[0]
    if total > MAX_POST_CHARS:
        raise ValidationError({"form": f"a post may hold at most {MAX_POST_CHARS} characters"})
    return flat


def _form_id(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise PermissionDenied("this form is no longer valid; reload the page")
    try:
        return clean_id(int(raw), FORM_FIELD)
    except ValidationError:
        raise PermissionDenied("this form is no longer valid; reload the page") from None


def _return_url(form: WebForm, asked: str | None) -> str | None:
    if asked in (None, ""):
        return form.return_urls[0] if form.return_urls else None
    if asked not in form.return_urls:
        raise ValidationError({RETURN_FIELD: "is not a return URL of this form"})
    return asked


def _read_post(form: WebForm, flat: Mapping[str, str], region: str | None) -> dict[str, Any]:
    """The form's fields from a post, checked with the API's rules (every bad field at once)."""
    known = {FORM_FIELD, KEY_FIELD, RETURN_FIELD, HONEYPOT, *form.fields}
    errors: dict[str, str] = dict.fromkeys(
        (k[:100] for k in flat if k not in known), "is not a field of this form"
    )
    data: dict[str, Any] = {}
    custom: dict[str, str | bool] = {}
    first = "first_name" if form.kind is WebFormKind.PERSON else "name"
    for name in form.fields:
        raw = flat.get(name, "")
        try:
            if not raw.strip():
                if name in form.required or name == first:
                    raise ValidationError({name: "is required"})
                continue
            if name.startswith("custom:"):
                custom[name.removeprefix("custom:")] = single_line(raw, name, max_length=2000)
            elif name == "about":
                data[name] = multi_line(raw, name, max_length=MAX_MESSAGE)
            elif name == "email":
                data[name] = cd.clean_email(raw)[0]
            elif name == "website":
                data[name] = cd.clean_url(raw)[0]
            elif name == "phone":
                data[name] = cd.clean_phone(raw, region=region)[0]
            else:
                data[name] = cd.clean_name(name, raw, required=False)
        except ValidationError as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)
    if custom:
        data["custom"] = custom
    return data


def render_snippet(form: WebForm, action: str) -> str:
    """The form as HTML (see :meth:`WebFormService.snippet`); every value escaped."""
    esc = html.escape
    rows = []
    for name in form.fields:
        ident = f"opencrm-{form.id}-{_slug(name)}"
        required = " required" if name in form.required or name in ("first_name", "name") else ""
        label = f'  <label for="{esc(ident)}">{esc(_label(name))}</label>\n'
        if name == "about":
            control = f'  <textarea id="{esc(ident)}" name="{esc(name)}"{required}></textarea>\n'
        else:
            kind = {"email": "email", "phone": "tel", "website": "url"}.get(name, "text")
            control = (
                f'  <input id="{esc(ident)}" type="{kind}" name="{esc(name)}"'
                f' maxlength="255"{required}>\n'
            )
        rows.append(f"<p>\n{label}{control}</p>\n")
    hidden = [(FORM_FIELD, str(form.id)), (KEY_FIELD, form.key)]
    if form.return_urls:
        hidden.append((RETURN_FIELD, form.return_urls[0]))
    hidden_inputs = "".join(
        f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">\n' for k, v in hidden
    )
    trap = (
        '<p style="position:absolute;left:-10000px" aria-hidden="true">\n'
        f'  <label>Leave this empty <input type="text" name="{HONEYPOT}" value=""'
        ' tabindex="-1" autocomplete="off"></label>\n</p>\n'
    )
    return (
        f'<form method="post" action="{esc(action)}" accept-charset="utf-8"'
        f' class="opencrm-web-form">\n{hidden_inputs}{"".join(rows)}{trap}'
        '<p><button type="submit">Send</button></p>\n</form>\n'
    )


# --- helpers ------------------------------------------------------------------------------


def _admin(tx: Tx) -> None:
    if not tx.actor.crm_admin:
        raise PermissionDenied("only CRM admins manage web forms")


def _get(tx: Tx, form_id: object) -> WebForm:
    form_id = clean_id(form_id, "form_id")
    form = tx.uow.web_forms.get(form_id)
    if form is None:
        raise NotFound("web form", form_id)
    return form


def _shown(form: WebForm) -> WebForm:
    """The form as events and the audit trail see it: never with its key."""
    return attrs.evolve(form, key="")


def _label(name: str) -> str:
    return name.removeprefix("custom:") if name.startswith("custom:") else _LABELS[name]


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name).lower()


def _texts(value: object, field: str, most: int) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValidationError({field: "must be a list of texts"})
    items = list(value)
    if len(items) > most:
        raise ValidationError({field: f"may hold at most {most} items"})
    out = []
    for n, item in enumerate(items):
        out.append(single_line(item, f"{field}.{n}", required=True, max_length=1000))
    return out


def _clean_fields(tx: Tx, kind: WebFormKind, value: object) -> tuple[str, ...]:
    names = _texts(value, "fields", 50)
    builtin = _PERSON_FIELDS if kind is WebFormKind.PERSON else _COMPANY_FIELDS
    custom = {f.label.casefold(): f.label for f in tx.uow.fields.list() if f.applies_to(kind.value)}
    errors: dict[str, str] = {}
    out: list[str] = []
    for n, name in enumerate(names):
        if name.startswith("custom:"):
            label = custom.get(name.removeprefix("custom:").casefold())
            if label is None:
                errors[f"fields.{n}"] = f"no custom field {name.removeprefix('custom:')!r}"
            else:
                out.append(f"custom:{label}")
        elif name in builtin:
            out.append(name)
        else:
            errors[f"fields.{n}"] = f"no field {name!r} on a {kind.value} form"
    if errors:
        raise ValidationError(errors)
    first = "first_name" if kind is WebFormKind.PERSON else "name"
    return tuple(dict.fromkeys([first, *out]))


def _clean_access(value: object) -> Access:
    try:
        return Access(str(value))
    except ValueError:
        raise ValidationError({"access": "must be private, read or read_write"}) from None


def _clean_url(value: object, field: str) -> str:
    """An absolute http(s) URL: return URLs and the snippet's action."""
    text = single_line(value, field, required=True, max_length=2000)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({field: "must be an absolute http or https URL"})
    return text
