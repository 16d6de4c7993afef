"""Website contact forms (S8) on every backend: the admin side, what a post becomes, and
the abuse a public form meets (old keys, oversized posts, foreign return URLs, honeypot,
rate limit, spam filters), each refused with nothing stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from opencrm import CRM, InMemoryUserDirectory, OutboxNotifier, User, WebForm, hookimpl
from opencrm.core.services.web_forms import MAX_POST_CHARS, client_key
from opencrm.errors import NotFound, PermissionDenied, RateLimited, StorageError, ValidationError
from opencrm.storage.sqlalchemy import tables
from opencrm.storage.sqlalchemy.activities import SqlHistoryRepository
from opencrm.storage.sqlalchemy.repositories import SqlAuditRepository
from opencrm.storage.sqlalchemy.web_forms import SqlWebFormRepository

THANKS = "https://www.example.com/thanks"
PEOPLE = [
    User(id="admin", name="Ada Admin", crm_admin=True, email="ada@example.com"),
    User(id="alice", name="Alice", email="alice@example.com"),
    User(id="bob", name="Bob", email="bob@example.com"),
    User(id="berta", name="Berta", email="berta@example.com", language="de"),
]


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 5, 4, 10, 15, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox() -> OutboxNotifier:
    return OutboxNotifier()


def open_crm(engine: sa.Engine, clock: Clock, outbox: Any = None, plugins: Any = ()) -> CRM:
    return CRM(
        engine,
        load_entrypoints=False,
        directory=InMemoryUserDirectory(PEOPLE),
        notifier=outbox,
        clock=clock,
        plugins=plugins,
    )


@pytest.fixture
def wcrm(engine: sa.Engine, clock: Clock, outbox: OutboxNotifier) -> CRM:
    return open_crm(engine, clock, outbox)


@pytest.fixture
def boss(wcrm: CRM) -> Any:
    return wcrm.session(PEOPLE[0])


@pytest.fixture
def form(boss: Any) -> WebForm:
    return boss.web_forms.add(  # type: ignore[no-any-return]
        "Contact us",
        fields=["last_name", "email", "phone", "company", "about"],
        required=["email"],
        tags=["web"],
        managers=["alice"],
        access="read",
        notify=["bob"],
        return_urls=[THANKS, "https://www.example.com/merci"],
        rate_limit=3,
    )


def post(form: WebForm, **values: str) -> dict[str, list[str]]:
    sent = {"opencrm_form": str(form.id), "opencrm_key": form.key, **values}
    return {k: [v] for k, v in sent.items()}


def stored(boss: Any) -> tuple[int, int]:
    """How many contacts and history events the CRM holds."""
    return boss.contacts.count(), len(boss.history.list(limit=200).items)


ANN = {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"}


# --- admin side -------------------------------------------------------------------------------


def test_an_admin_builds_changes_and_deletes_forms(boss: Any, form: WebForm) -> None:
    assert form.fields == ("first_name", "last_name", "email", "phone", "company", "about")
    assert form.required == ("email",)
    assert form.managers == frozenset({"alice"})
    assert form.notify == ("bob",)
    assert len(form.key) == 32
    assert boss.web_forms.get(form.id) == form
    assert boss.web_forms.list() == [form]
    changed = boss.web_forms.update(form.id, name="Write to us", rate_limit=5)
    assert (changed.name, changed.rate_limit, changed.key) == ("Write to us", 5, form.key)
    rotated = boss.web_forms.rotate_key(form.id)
    assert rotated.key != form.key
    assert boss.web_forms.get(form.id).key == rotated.key
    boss.web_forms.delete(form.id)
    with pytest.raises(NotFound):
        boss.web_forms.get(form.id)


def test_form_settings_are_checked(boss: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        boss.web_forms.add(
            "",
            fields=["email", "industry", "custom:Shoe size"],
            required=["phone"],
            notify=["nobody"],
            return_urls=["javascript:alert(1)"],
            rate_limit=0,
        )
    assert caught.value.errors == {
        "name": "is required",
        "fields.1": "no field 'industry' on a person form",
        "fields.2": "no custom field 'Shoe size'",
        "notify": "unknown users: nobody",
        "return_urls.0": "must be an absolute http or https URL",
        "rate_limit": "must be a whole number from 1 to 10000",
        "required": "not fields of the form: phone",
    }
    with pytest.raises(ValidationError) as caught:
        boss.web_forms.add("Form", fields=["email"], required=["phone"])
    assert caught.value.errors == {"required": "not fields of the form: phone"}
    with pytest.raises(ValidationError):
        boss.web_forms.add("Form", kind="lead")
    assert boss.web_forms.list() == []


def test_only_admins_manage_forms(wcrm: CRM, form: WebForm) -> None:
    alice = wcrm.session(PEOPLE[1])
    for call in (
        lambda: alice.web_forms.list(),
        lambda: alice.web_forms.get(form.id),
        lambda: alice.web_forms.add("Mine"),
        lambda: alice.web_forms.update(form.id, name="Mine"),
        lambda: alice.web_forms.rotate_key(form.id),
        lambda: alice.web_forms.snippet(form.id, "https://crm.example/web-forms/post"),
        lambda: alice.web_forms.delete(form.id),
    ):
        with pytest.raises(PermissionDenied):
            call()


def test_the_snippet_escapes_everything(boss: Any) -> None:
    boss.fields.add("person", '"><script>x</script>', "text")
    form = boss.web_forms.add(
        "Form",
        fields=['custom:"><script>x</script>'],
        return_urls=['https://www.example.com/?a="><script>x</script>'],
    )
    html = boss.web_forms.snippet(form.id, "https://crm.example/crm/web-forms/post?x=<y>")
    assert "<script>" not in html
    assert '<form method="post" action="https://crm.example/crm/web-forms/post?x=&lt;y&gt;"' in html
    assert f'<input type="hidden" name="opencrm_key" value="{form.key}">' in html
    assert (
        '<input type="hidden" name="opencrm_return" '
        'value="https://www.example.com/?a=&quot;&gt;&lt;script&gt;x&lt;/script&gt;">'
    ) in html
    # ids are made of letters, digits and dashes only
    assert '<label for="opencrm-1-custom----script-x--script-">' in html
    assert "&quot;&gt;&lt;script&gt;x&lt;/script&gt;</label>" in html
    assert 'name="opencrm_homepage"' in html
    with pytest.raises(ValidationError):
        boss.web_forms.snippet(form.id, "javascript:alert(1)")


# --- what a post becomes ----------------------------------------------------------------------


def test_a_post_creates_a_person_linked_to_a_new_company(
    wcrm: CRM, boss: Any, form: WebForm, outbox: OutboxNotifier
) -> None:
    result = wcrm.web_form_post(
        post(form, **ANN, company="Acme", about="Please call me.", opencrm_return=""),
        client="192.0.2.7",
    )
    assert (result.outcome, result.redirect) == ("created", THANKS)
    ann = boss.contacts.get(result.contact_id)
    acme = boss.contacts.get(ann.company_id)
    assert (ann.display_name, acme.display_name) == ("Ann Lee", "Acme")
    assert (ann.tags, ann.managers, ann.access.value) == (
        frozenset({"web"}),
        frozenset({"alice"}),
        "read",
    )
    assert ann.about == "Please call me."
    assert [i.value for i in ann.infos] == ["ann@example.com"]
    (event,) = boss.history.list().items
    assert event.contact_id == ann.id
    assert event.content == (
        "Sent through the website contact form 'Contact us'.\nFirst name: Ann\n"
        "Last name: Lee\nEmail: ann@example.com\nCompany: Acme\nMessage: Please call me."
    )
    # alice manages the company (made first, to link the person to it) and the person, bob
    # is on the form's notify list
    assert [(m.to, m.subject) for m in outbox.take()] == [
        (("alice@example.com",), "The website contact form shared the contact Acme with you"),
        (("alice@example.com",), "The website contact form shared the contact Ann Lee with you"),
        (("bob@example.com",), "The website contact form added a history event to Ann Lee"),
    ]
    assert boss.web_forms.get(form.id).posts == 1


def test_a_post_links_an_existing_company_and_returns_where_asked(
    wcrm: CRM, boss: Any, form: WebForm
) -> None:
    acme = boss.contacts.add_company("ACME")
    result = wcrm.web_form_post(
        post(form, **ANN, company="acme", opencrm_return="https://www.example.com/merci"),
        client="192.0.2.7",
    )
    assert result.redirect == "https://www.example.com/merci"
    assert boss.contacts.get(result.contact_id).company_id == acme.id
    assert boss.contacts.count() == 2


def test_a_duplicate_gets_a_history_event_not_a_twin(wcrm: CRM, boss: Any, form: WebForm) -> None:
    ann = boss.contacts.add_person("Annie", "Lee", email="ANN@example.com")
    result = wcrm.web_form_post(post(form, **ANN, about="Again"), client="192.0.2.7")
    assert (result.outcome, result.contact_id) == ("attached", ann.id)
    assert boss.contacts.count() == 1
    (event,) = boss.history.list().items
    assert (event.contact_id, event.content.splitlines()[-1]) == (ann.id, "Message: Again")


def test_a_company_form(wcrm: CRM, boss: Any) -> None:
    form = boss.web_forms.add("Partners", kind="company", fields=["industry", "website"])
    result = wcrm.web_form_post(
        post(form, name="Initech", industry="Software", website="https://initech.example"),
        client="192.0.2.7",
    )
    company = boss.contacts.get(result.contact_id)
    assert (company.kind, company.display_name, company.industry) == (
        "company",
        "Initech",
        "Software",
    )
    assert result.redirect is None


def test_custom_fields_are_filled(wcrm: CRM, boss: Any) -> None:
    boss.fields.add("person", "Shoe size", "text")
    form = boss.web_forms.add("Shoes", fields=["custom:shoe size"])
    assert form.fields == ("first_name", "custom:Shoe size")
    result = wcrm.web_form_post(
        post(form, first_name="Ann", **{"custom:Shoe size": "42"}), client="192.0.2.7"
    )
    assert boss.contacts.custom_values(result.contact_id) == {"Shoe size": "42"}


def test_invalid_fields_are_refused_together(wcrm: CRM, boss: Any, form: WebForm) -> None:
    with pytest.raises(ValidationError) as caught:
        wcrm.web_form_post(
            post(form, first_name=" ", email="not-an-e-mail", phone="call me", extra="x"),
            client="192.0.2.7",
        )
    assert set(caught.value.errors) == {"extra", "first_name", "email", "phone"}
    assert stored(boss) == (0, 0)


# --- one transaction per post ------------------------------------------------------------------

#: What a post may write, and the table that counts the attempt (its own committed step).
POST_TABLES = (
    "contacts",
    "contact_infos",
    "contact_managers",
    "entity_tags",
    "custom_values",
    "history_events",
    "audit_log",
)


def rows(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        counts = {
            name: conn.execute(
                sa.select(sa.func.count()).select_from(tables.metadata.tables[name])
            ).scalar_one()
            for name in (*POST_TABLES, "web_form_hits")
        }
        counts["posts"] = conn.execute(sa.select(sa.func.sum(tables.web_forms.c.posts))).scalar()
    return counts


def fail(*args: object, **kwargs: object) -> None:
    raise sa.exc.OperationalError("INSERT ...", {}, Exception("the disk is full"))


# Each the last write of its kind in a post: the history event (after the company and the
# contact), the form's post count (after the history event), and the audit trail (written
# just before the commit, after everything else).
FAILURES = {
    "history": (SqlHistoryRepository, "add"),
    "post_count": (SqlWebFormRepository, "count_post"),
    "audit": (SqlAuditRepository, "append_many"),
}


@pytest.mark.parametrize("failing", list(FAILURES))
@pytest.mark.parametrize("twin", [False, True], ids=["new", "duplicate"])
def test_a_post_that_fails_midway_stores_nothing_of_it(
    engine: sa.Engine,
    wcrm: CRM,
    boss: Any,
    outbox: OutboxNotifier,
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
    twin: bool,
) -> None:
    boss.fields.add("person", "Shoe size", "text")
    form = boss.web_forms.add(
        "Contact us",
        fields=["last_name", "email", "phone", "company", "custom:Shoe size", "about"],
        tags=["web", "spring fair"],
        managers=["alice", "bob"],
        notify=["bob", "berta"],
    )
    if twin:
        boss.contacts.add_person("Ann", "Lee", email="ann@example.com")
    values = post(
        form,
        **ANN,
        phone="+44 20 7946 0000",
        company="Acme",
        about="Hi",
        **{"custom:Shoe size": "42"},
    )
    outbox.take()
    before = rows(engine)
    cls, name = FAILURES[failing]
    with monkeypatch.context() as patched:
        patched.setattr(cls, name, fail)
        with pytest.raises(StorageError) as caught:
            wcrm.web_form_post(values, client="192.0.2.7")
    assert str(caught.value) == "the database refused the operation: the disk is full"
    after = rows(engine)
    # The attempt counted for the rate limit; nothing else of the post is stored or sent.
    assert after == before | {"web_form_hits": 1}
    assert len(outbox) == 0

    # The same post, once the database takes it, does everything.
    result = wcrm.web_form_post(values, client="192.0.2.7")
    assert result.outcome == ("attached" if twin else "created")
    done = rows(engine)
    if twin:
        assert {k: done[k] - after[k] for k in POST_TABLES} == {
            "contacts": 0,
            "contact_infos": 0,
            "contact_managers": 0,
            "entity_tags": 0,
            "custom_values": 0,
            "history_events": 1,
            "audit_log": 2,  # history.created, web_form.posted
        }
    else:
        ann = boss.contacts.get(result.contact_id)
        assert boss.contacts.get(ann.company_id).display_name == "Acme"
        assert (ann.tags, ann.managers) == (
            frozenset({"web", "spring fair"}),
            frozenset({"alice", "bob"}),
        )
        assert boss.contacts.custom_values(ann.id) == {"Shoe size": "42"}
        assert {k: done[k] - after[k] for k in POST_TABLES} == {
            "contacts": 2,  # the person and the company
            "contact_infos": 2,  # the person's e-mail and phone
            "contact_managers": 4,  # alice and bob, of each
            "entity_tags": 4,  # web and spring fair, on each
            "custom_values": 1,
            "history_events": 1,
            # tag.created of the two new tags, contact.created and contact.access_changed
            # of each contact, history.created, web_form.posted
            "audit_log": 8,
        }
    assert (done["posts"], done["web_form_hits"]) == (1, 1)
    history = [
        (
            "berta@example.com",
            "Das Website-Kontaktformular hat einen Verlaufseintrag zu Ann Lee hinzugefügt",
        ),
        ("bob@example.com", "The website contact form added a history event to Ann Lee"),
    ]
    shared = [
        (user, f"The website contact form shared the contact {name} with you")
        for user in ("alice@example.com", "bob@example.com")
        for name in ("Acme", "Ann Lee")
    ]
    told = sorted((m.to[0], m.subject) for m in outbox.take())
    assert told == sorted(history if twin else history + shared)


# --- the five abuse cases, and a spam filter --------------------------------------------------


def test_a_stolen_old_key_is_refused(wcrm: CRM, boss: Any, form: WebForm) -> None:
    boss.web_forms.rotate_key(form.id)
    with pytest.raises(PermissionDenied):
        wcrm.web_form_post(post(form, **ANN), client="192.0.2.7")
    with pytest.raises(PermissionDenied):  # no key, a key of another form, no such form
        wcrm.web_form_post(
            {"opencrm_form": [str(form.id)], **post(form, **ANN)} | {"opencrm_key": [""]},
            client="192.0.2.7",
        )
    with pytest.raises(PermissionDenied):
        wcrm.web_form_post(post(form, **ANN) | {"opencrm_form": ["99"]}, client="192.0.2.7")
    boss.web_forms.delete(form.id)
    with pytest.raises(PermissionDenied):
        wcrm.web_form_post(post(form, **ANN), client="192.0.2.7")
    assert stored(boss) == (0, 0)


def test_an_oversized_post_is_refused(wcrm: CRM, boss: Any, form: WebForm) -> None:
    with pytest.raises(ValidationError) as caught:
        wcrm.web_form_post(post(form, **ANN, about="x" * MAX_POST_CHARS), client="192.0.2.7")
    assert caught.value.errors == {"form": "a post may hold at most 20000 characters"}
    with pytest.raises(ValidationError) as caught:
        wcrm.web_form_post(post(form, **(ANN | {"last_name": "x" * 256})), client="192.0.2.7")
    assert caught.value.errors == {"last_name": "is longer than 255 characters"}
    many = post(form, **ANN) | {f"f{n}": ["x"] for n in range(60)}
    with pytest.raises(ValidationError):
        wcrm.web_form_post(many, client="192.0.2.7")
    assert stored(boss) == (0, 0)


def test_a_return_url_on_another_host_is_refused(wcrm: CRM, boss: Any, form: WebForm) -> None:
    for foreign in ("https://evil.example/thanks", "//evil.example", THANKS + "@evil.example"):
        with pytest.raises(ValidationError) as caught:
            wcrm.web_form_post(post(form, **ANN, opencrm_return=foreign), client="192.0.2.7")
        assert caught.value.errors == {"opencrm_return": "is not a return URL of this form"}
    assert stored(boss) == (0, 0)


def test_the_honeypot_answers_like_a_success_and_stores_nothing(
    wcrm: CRM, boss: Any, form: WebForm, outbox: OutboxNotifier
) -> None:
    result = wcrm.web_form_post(
        post(form, **ANN, opencrm_homepage="http://spam.example"), client="192.0.2.7"
    )
    assert (result.outcome, result.redirect, result.contact_id) == ("ignored", THANKS, None)
    assert stored(boss) == (0, 0)
    assert len(outbox) == 0


def test_the_rate_limit_holds_across_app_servers(
    engine: sa.Engine, clock: Clock, boss: Any, form: WebForm
) -> None:
    servers = [open_crm(engine, clock), open_crm(engine, clock)]
    for n in range(3):
        servers[n % 2].web_form_post(
            post(form, first_name=f"P{n}", email=f"p{n}@example.com"), client="192.0.2.7"
        )
    with pytest.raises(RateLimited) as caught:
        servers[1].web_form_post(post(form, first_name="P3", email="p3@e.com"), client="192.0.2.7")
    assert caught.value.retry_after == 45 * 60 + 1
    assert stored(boss) == (3, 3)
    # Another address is not limited; the same one is again in the next hour.
    servers[0].web_form_post(post(form, first_name="Q", email="q@e.com"), client="192.0.2.8")
    clock.now += dt.timedelta(minutes=45)
    servers[0].web_form_post(post(form, first_name="R", email="r@e.com"), client="192.0.2.7")
    assert stored(boss) == (5, 5)


def test_addresses_of_one_ipv6_network_share_a_limit() -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("") == "unknown"


class SpamFilter:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, object], str]] = []

    @hookimpl
    def opencrm_web_form_spam(
        self, crm: CRM, form: WebForm, values: dict[str, object], client: str
    ) -> bool | None:
        self.seen.append((form.name, values, client))
        return "viagra" in str(values.get("about", "")).lower() or None


def test_a_spam_filter_plugin_drops_posts(
    engine: sa.Engine, clock: Clock, boss: Any, form: WebForm
) -> None:
    spam = SpamFilter()
    crm = open_crm(engine, clock, plugins=[spam])
    result = crm.web_form_post(post(form, **ANN, about="Cheap VIAGRA"), client="192.0.2.7")
    assert (result.outcome, result.redirect) == ("ignored", THANKS)
    assert stored(boss) == (0, 0)
    assert crm.web_form_post(post(form, **ANN, about="Hello"), client="192.0.2.7").outcome == (
        "created"
    )
    assert spam.seen[1] == ("Contact us", {**ANN, "about": "Hello"}, "192.0.2.7")


def test_the_notify_list_hears_in_its_language(
    wcrm: CRM, boss: Any, outbox: OutboxNotifier
) -> None:
    form = boss.web_forms.add("Kontakt", managers=["admin"], notify=["berta"])
    wcrm.web_form_post(post(form, first_name="Anna"), client="192.0.2.7")
    # ada manages the new contact (told in English), berta is on the notify list
    (shared, message) = outbox.take()
    assert shared.subject == "The website contact form shared the contact Anna with you"
    assert (message.to, message.subject) == (
        ("berta@example.com",),
        "Das Website-Kontaktformular hat einen Verlaufseintrag zu Anna hinzugefügt",
    )
