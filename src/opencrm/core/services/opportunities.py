"""Opportunities (S5) and the stage list they move through (S10)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs
from moneyed import Money

from opencrm.core import contact_data as cd
from opencrm.core import permissions as policy
from opencrm.core._inputs import MAX_ID, clean_id, clean_int
from opencrm.core.currencies import get_currency, is_known_currency
from opencrm.core.deals_query import OPPORTUNITY_SORTS, OpportunityFilter
from opencrm.core.entities.contacts import Contact
from opencrm.core.entities.deals import BidType, Opportunity
from opencrm.core.entities.lists import Stage, StageType
from opencrm.core.money import clean_currency, to_decimal
from opencrm.core.query import DEFAULT_PAGE_SIZE, Page, PageRequest
from opencrm.core.services import _records as rec
from opencrm.core.services._base import Service, Tx
from opencrm.core.services._files import discard_files
from opencrm.core.users import User
from opencrm.errors import Conflict, NotFound, PermissionDenied, ValidationError

__all__ = ["MAX_BUDGET", "MAX_PERIODS", "OpportunityService", "StageService"]

#: Budgets stay below this (in currency units), period counts at or below MAX_PERIODS: the
#: value then fits the 64-bit sort key in every currency.
MAX_BUDGET = Decimal(10) ** 11
MAX_PERIODS = 9999

_FIELDS = frozenset(
    {
        "title",
        "description",
        "contact",
        "members",
        "budget",
        "currency",
        "bid_type",
        "period_count",
        "expected_close",
        "actual_close",
        "responsible",
        "stage",
        "probability",
        "tags",
        "custom",
        "restricted",
        "access_list",
        "project_ref",
    }
)
_ACCESS_FIELDS = frozenset({"restricted", "access_list"})
_FILTERS = frozenset(
    {
        "text",
        "responsible",
        "stage",
        "stage_type",
        "contact",
        "tags",
        "expected_from",
        "expected_to",
        "custom",
    }
)
_NO_FILTER = OpportunityFilter()
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class OpportunityService:
    """Opportunities as the acting user may see and change them; ``session.opportunities``.

    An opportunity is public unless ``restricted``; a restricted one is visible only to CRM
    admins and its access list (the creator and the responsible are always on it), and an
    opportunity the user may not read raises :class:`~opencrm.errors.NotFound`, like a missing
    one. Whoever may read an opportunity may edit and delete it; only a CRM admin or its
    creator may change ``restricted`` and ``access_list``.
    """

    def __init__(self, service: Service) -> None:
        self._s = service

    # --- create -------------------------------------------------------------------------

    def add(
        self,
        title: str,
        *,
        contact: Any = None,
        budget: Any = None,
        stage: Any = None,
        **fields: Any,
    ) -> Opportunity:
        """Create an opportunity.

        ``contact`` is the main contact (a contact or its id, readable by the user);
        ``budget`` a :class:`moneyed.Money` (or an exact amount with ``currency``; the default
        currency setting otherwise); ``stage`` a stage, its id or title (the first open stage
        by default). Other fields: ``description``, ``members``, ``bid_type``,
        ``period_count``, ``expected_close``, ``actual_close``, ``responsible`` (default: the
        creator), ``probability`` (default: the stage's), ``tags``, ``custom``,
        ``restricted``, ``access_list``, ``project_ref``.
        """
        rec.check_names(fields, _FIELDS - {"title", "contact", "budget", "stage"}, "an opportunity")
        with self._s._tx() as tx:
            changes: dict[str, Any] = {"title": title, **fields}
            if contact is not None:
                changes["contact"] = contact
            if budget is not None:
                changes["budget"] = budget
            changes["stage"] = stage if stage is not None else _first_open_stage(tx)
            changes.setdefault("responsible", tx.actor.id)
            currency = tx.uow.settings.get("default_currency") or "USD"
            blank = Opportunity(
                id=0,
                title="",
                budget=Money(0, currency),
                responsible=tx.actor.id,
                stage_id=0,
                created_by=tx.actor.id,
                created_at=tx.now,
                updated_by=tx.actor.id,
                updated_at=tx.now,
            )
            opportunity = self._apply(tx, blank, changes, creating=True)
            stored = tx.uow.opportunities.add(opportunity)
            tx.emit("opportunity.created", stored, after=stored)
            _announce(tx, None, stored)
            return stored

    # --- read ---------------------------------------------------------------------------

    def get(self, opportunity_id: int) -> Opportunity:
        with self._s._tx(write=False) as tx:
            return self._readable(tx, opportunity_id)

    def list(
        self,
        *,
        sort: str = "title",
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        **filters: Any,
    ) -> Page[Opportunity]:
        """One page of the opportunities the user may read, filtered and sorted.

        Filters: ``text`` (in the title), ``responsible``, ``stage``, ``stage_type``
        (``"open"``, ``"won"``, ``"lost"``), ``contact`` (main contact or member; a contact
        the user may not read is NotFound), ``tags`` (all of them), ``expected_from`` and
        ``expected_to`` (dates, inclusive), ``custom`` (field label or id -> value). Sorts:
        ``title``, ``responsible``, ``stage``, ``value``, ``expected_close`` (undated last),
        ``created``; ``-`` for descending.
        """
        page = PageRequest.build(sort, limit, after, OPPORTUNITY_SORTS)
        with self._s._tx(write=False) as tx:
            where = self._filter(tx, filters)
            key = tx.cursor_key("opportunities")
            items, cursor = tx.uow.opportunities.list(
                policy.deal_scope(tx.actor), where, key.open(page)
            )
            return key.page(items, cursor)

    def count(self, **filters: Any) -> int:
        """How many opportunities the user may read match the filters (as for :meth:`list`)."""
        with self._s._tx(write=False) as tx:
            where = self._filter(tx, filters)
            return tx.uow.opportunities.count(policy.deal_scope(tx.actor), where)

    def search(self, text: str, *, limit: int = 20, after: str | None = None) -> Page[Opportunity]:
        """Opportunities whose title contains ``text`` (starts with it, for one or two
        characters), sorted by title.
        One page (a sequence); pass its ``next_cursor`` as ``after`` for the next one."""
        return self.list(text=text, limit=limit, after=after)

    def custom_values(self, opportunity: Opportunity | int) -> dict[str, Any]:
        """The custom values by field label, as Python values, in the fields' order."""
        oid = rec.record_id(opportunity, "opportunity", Opportunity)
        with self._s._tx(write=False) as tx:
            found = self._readable(tx, oid)
            types = self._s._ctx.field_types
            return {
                f.label: types.get(f.type).load(found.custom[f.id], f.options)
                for f in tx.uow.fields.list("opportunity")
                if f.id in found.custom
            }

    def project(self, opportunity: Opportunity | int) -> object | None:
        """The host application's project for this opportunity, from the first plugin that
        answers the ``opencrm_opportunity_project`` hook; None when none does."""
        oid = rec.record_id(opportunity, "opportunity", Opportunity)
        found = self.get(oid)
        ctx = self._s._ctx
        result: object | None = ctx.hook.opencrm_opportunity_project(crm=ctx.crm, opportunity=found)
        return result

    # --- change -------------------------------------------------------------------------

    def update(self, opportunity_id: int, **changes: Any) -> Opportunity:
        """Change fields (names as for :meth:`add`). Moving to another ``stage`` takes the
        stage's probability unless ``probability`` is given, sets ``actual_close`` to today
        for a won or lost stage and clears it for an open one."""
        return self._update(opportunity_id, changes, access=False)

    def _update(
        self, opportunity_id: int, changes: Mapping[str, Any], *, access: bool
    ) -> Opportunity:
        with self._s._tx() as tx:
            before = self._readable(tx, opportunity_id)
            wants_access = access or bool(_ACCESS_FIELDS & set(changes))
            if wants_access and not policy.can_change_deal_access(tx.actor, before):
                raise PermissionDenied("only a CRM admin or the creator may change access")
            rec.check_names(changes, _FIELDS, "an opportunity")
            after = self._apply(tx, before, changes, creating=False)
            return self._save(tx, before, after)

    def set_stage(
        self, opportunity_id: int, stage: Stage | int | str, *, probability: int | None = None
    ) -> Opportunity:
        """Move to a stage (see :meth:`update`)."""
        changes: dict[str, Any] = {"stage": stage}
        if probability is not None:
            changes["probability"] = probability
        return self.update(opportunity_id, **changes)

    def set_access(
        self,
        opportunity_id: int,
        restricted: bool | None = None,
        access_list: Iterable[str | User] | None = None,
    ) -> Opportunity:
        """Restrict the opportunity to an access list, or make it public again; allowed to
        CRM admins and the creator. The creator and the responsible are always added."""
        changes: dict[str, Any] = {}
        if restricted is not None:
            changes["restricted"] = restricted
        if access_list is not None:
            changes["access_list"] = access_list
        return self._update(opportunity_id, changes, access=True)

    def delete(self, opportunity_id: int) -> None:
        """Delete an opportunity with its member links, access list, tags, custom values,
        tasks and history events (their files go once the deletion has committed)."""
        with self._s._tx() as tx:
            found = self._readable(tx, opportunity_id)
            tx.uow.lock("opportunity", found.id)  # uploads to it finish first, or fail
            file_ids = tx.uow.history.file_ids_of(opportunity_id=found.id)
            tx.uow.opportunities.delete(found.id)
            tx.emit("opportunity.deleted", found, before=found)
        discard_files(self._s, file_ids)

    # --- internals ----------------------------------------------------------------------

    def _readable(self, tx: Tx, opportunity_id: int) -> Opportunity:
        oid = rec.record_id(opportunity_id, "opportunity_id")
        found = tx.uow.opportunities.get(oid)
        if found is None or not policy.can_read_deal(tx.actor, found):
            raise NotFound("opportunity", oid)
        return found

    def _save(self, tx: Tx, before: Opportunity, after: Opportunity) -> Opportunity:
        if after == before:
            return before
        after = attrs.evolve(after, updated_by=tx.actor.id, updated_at=tx.now)
        stored = tx.uow.opportunities.update(after)
        tx.emit("opportunity.updated", stored, before=before, after=stored)
        _announce(tx, before, stored)
        return stored

    def _apply(
        self, tx: Tx, opp: Opportunity, changes: Mapping[str, Any], *, creating: bool
    ) -> Opportunity:
        """Validate ``changes`` against ``opp``; every bad field goes into one error."""
        check = rec.FieldChecker(changes)
        check("title", lambda v: cd.clean_name("title", v, required=True))
        check("description", lambda v: cd.clean_text("description", v))
        check(
            "contact",
            lambda v: None if v is None else _main_contact(tx, v, opp.contact_id),
            to="contact_id",
        )
        check("members", lambda v: rec.member_ids(tx, v, opp.members))
        check("bid_type", _clean_bid_type)
        check("period_count", _clean_period_count)
        check("expected_close", lambda v: rec.clean_date(v, "expected_close"))
        check("actual_close", lambda v: rec.clean_date(v, "actual_close"))
        check("responsible", lambda v: _one_user(self._s, v, "responsible"))
        check("stage", lambda v: _stage(tx, v, "stage"))
        check("probability", _clean_probability)
        check("tags", lambda v: rec.tag_titles(tx, "opportunity", v))
        check("custom", lambda v: rec.custom_values(self._s, tx, "opportunity", opp.custom, v))
        check("restricted", lambda v: rec.clean_bool(v, "restricted"))
        check("access_list", lambda v: self._s._managers(v, "access_list"))
        check("project_ref", _clean_project_ref)
        if "budget" in changes or "currency" in changes:
            try:
                check.new["budget"] = _clean_budget(
                    changes.get("budget", opp.budget.amount),
                    changes.get("currency"),
                    opp.budget.currency.code,
                )
            except ValidationError as exc:
                check.errors.update(exc.errors)
        new = check.done()

        stage: Stage | None = new.pop("stage", None)
        if stage is not None:
            new["stage_id"] = stage.id
        result = attrs.evolve(opp, **new)
        if result.contact_id is not None:
            result = attrs.evolve(result, members=result.members | {result.contact_id})
        if stage is not None and (creating or stage.id != opp.stage_id):
            if "probability" not in changes:
                result = attrs.evolve(result, probability=stage.probability)
            closed_on = tx.now.date() if stage.type is not StageType.OPEN else None
            if "actual_close" not in changes:
                result = attrs.evolve(result, actual_close=closed_on)
        if "actual_close" in changes:
            is_open = _stage_type(tx, result.stage_id) is StageType.OPEN
            if is_open and result.actual_close is not None:
                raise ValidationError(
                    {"actual_close": "is set only for an opportunity at a won or lost stage"}
                )
            if not is_open and result.actual_close is None:
                raise ValidationError({"actual_close": "is required at a won or lost stage"})
        always = {result.created_by, result.responsible}
        return attrs.evolve(result, access_list=result.access_list | always)

    def _filter(self, tx: Tx, filters: Mapping[str, Any]) -> OpportunityFilter:
        if not filters:
            return _NO_FILTER  # the plain list, the one asked for most
        given = rec.given_filters(filters, _FILTERS)
        check = rec.FieldChecker(given)
        check("text", rec.text_filter)
        check("responsible", lambda v: _one_user(self._s, v, "responsible", known=False))
        check("stage", lambda v: _stage(tx, v, "stage").id, to="stage_id")
        check("stage_type", _clean_stage_type)
        check("tags", rec.tags_filter)
        check("expected_from", lambda v: rec.clean_date(v, "expected_from"))
        check("expected_to", lambda v: rec.clean_date(v, "expected_to"))
        check(
            "custom", lambda v: rec.custom_filter(self._s, tx, v, ("opportunity",), "opportunities")
        )
        out = check.done()
        if "contact" in given:
            out["contact_id"] = rec.contact_filter(tx, given["contact"])
        return OpportunityFilter(**out)


# --- helpers ---------------------------------------------------------------------------------


def _announce(tx: Tx, before: Opportunity | None, after: Opportunity) -> None:
    """The events notifications hang off: a new responsible, and users granted access."""
    if before is None and after.responsible != tx.actor.id:
        tx.emit(
            "opportunity.responsible_changed",
            after,
            data={"responsible": after.responsible, "previous": None},
        )
    elif before is not None and before.responsible != after.responsible:
        tx.emit(
            "opportunity.responsible_changed",
            after,
            data={"responsible": after.responsible, "previous": before.responsible},
        )
    rec.access_event(tx, "opportunity.access_changed", before, after)


def _first_open_stage(tx: Tx) -> Stage:
    for stage in tx.uow.stages.list():
        if stage.type is StageType.OPEN:
            return stage
    raise Conflict("there is no open stage to start an opportunity at")


def _stage(tx: Tx, value: object, field: str) -> Stage:
    stages = tx.uow.stages.list()
    if isinstance(value, Stage):
        value = value.id
    if isinstance(value, str):
        key = " ".join(value.split()).casefold()
        found = next((s for s in stages if s.title.casefold() == key), None)
    elif isinstance(value, int) and not isinstance(value, bool):
        value = clean_id(value, field)
        found = next((s for s in stages if s.id == value), None)
    else:
        raise ValidationError({field: "must be a stage, its id or its title"})
    if found is None:
        raise ValidationError({field: f"no stage {value!r}"})
    return found


def _stage_type(tx: Tx, stage_id: int) -> StageType:
    stage = tx.uow.stages.get(stage_id)
    return stage.type if stage is not None else StageType.OPEN


def _main_contact(tx: Tx, value: object, current: int | None) -> int:
    cid = rec.record_id(value, "contact", Contact)
    if cid == current:
        return cid  # already linked: keeping it needs no read right
    return rec.readable_contact(tx, cid, "contact")


def _one_user(service: Service, value: object, field: str, *, known: bool = True) -> str:
    try:
        uid = rec.user_id(value, field)
    except ValidationError:
        raise ValidationError({field: "must be a user or a user id"}) from None
    if known:
        service._managers([uid], field)
    return uid


def _clean_bid_type(value: object) -> BidType:
    try:
        return BidType(str(value))
    except ValueError:
        raise ValidationError(
            {"bid_type": "must be one of " + ", ".join(b.value for b in BidType)}
        ) from None


def _clean_period_count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PERIODS:
        raise ValidationError({"period_count": f"must be a whole number from 1 to {MAX_PERIODS}"})
    return value


def _clean_probability(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ValidationError({"probability": "must be a whole number from 0 to 100"})
    return value


def _clean_stage_type(value: object, field: str = "stage_type") -> StageType:
    try:
        return StageType(str(value))
    except ValueError:
        raise ValidationError(
            {field: "must be one of " + ", ".join(t.value for t in StageType)}
        ) from None


def _clean_project_ref(value: object) -> str | None:
    if value is None:
        return None
    return cd.clean_name("project_ref", value, required=False) or None


def _clean_currency(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError({"currency": "must be an ISO 4217 code such as 'EUR'"})
    return clean_currency(value)


def _clean_budget(amount: object, currency: object, default_currency: str) -> Money:
    """An exact budget: Money, or an amount (Decimal, int or decimal string) in ``currency``
    (``default_currency`` when not given). Floats are refused: 0.1 + 0.2 is not 0.3 in
    binary."""
    errors: dict[str, str] = {}
    code: str | None = None
    if currency is not None:
        try:
            code = _clean_currency(currency)
        except ValidationError as exc:
            errors.update(exc.errors)
    if isinstance(amount, Money):
        if code is not None and code != amount.currency.code:
            errors["currency"] = f"differs from the budget's currency {amount.currency.code}"
        code = amount.currency.code
        if not is_known_currency(code):
            errors["currency"] = f"unknown currency {code!r}"
        amount = amount.amount
    if isinstance(amount, float):
        errors["budget"] = "must be exact: a Money, Decimal, int or decimal string, never a float"
    elif isinstance(amount, bool) or not isinstance(amount, (Decimal, int, str)):
        errors["budget"] = "must be a Money, or an amount with a currency"
    if errors or not isinstance(amount, (Decimal, int, str)):
        raise ValidationError(errors)
    code = code or default_currency
    value = to_decimal(amount, "budget")
    if value < 0 or value >= MAX_BUDGET:
        raise ValidationError({"budget": f"must be from 0 to less than {MAX_BUDGET:,}"})
    minor = get_currency(code).minor_units
    try:
        exact = to_decimal(value, "budget", places=minor)
    except ValidationError:
        raise ValidationError(
            {"budget": f"has more decimals than {code} allows ({minor})"}
        ) from None
    return Money(exact.quantize(Decimal(1).scaleb(-minor)), code)


# --- stages ----------------------------------------------------------------------------------


class StageService:
    """The opportunity stages; ``session.stages``. Anyone reads them, CRM admins change them.

    A stage in use cannot be deleted or change its type; the last open, the last won and the
    last lost stage cannot be deleted or change type, so an opportunity can always be started,
    won and lost. Probability, colour, title and order may change at any time: opportunities
    keep their own probability.
    """

    _CHANGEABLE = frozenset({"title", "description", "color", "probability", "type", "sort_order"})

    def __init__(self, service: Service) -> None:
        self._s = service

    def list(self) -> Sequence[Stage]:
        """All stages in their order."""
        with self._s._tx(write=False) as tx:
            return tx.uow.stages.list()

    def add(
        self,
        title: str,
        *,
        color: str,
        probability: int = 0,
        type: StageType | str = StageType.OPEN,
        description: str = "",
        sort_order: int | None = None,
    ) -> Stage:
        """Add a stage; it goes last unless ``sort_order`` says otherwise."""
        with self._s._tx() as tx:
            policy.require_admin(tx.actor, "change stages")
            stages = tx.uow.stages.list()
            given: dict[str, Any] = {
                "title": title,
                "color": color,
                "probability": probability,
                "type": type,
                "description": description,
            }
            if sort_order is not None:
                given["sort_order"] = sort_order
            values = _clean_stage(given)
            values.setdefault("sort_order", max((s.sort_order for s in stages), default=0) + 1)
            _title_free(stages, values["title"], None)
            stored = tx.uow.stages.add(Stage(id=0, **values))
            tx.emit("stage.created", stored, after=stored)
            return stored

    def update(self, stage_id: int, **changes: Any) -> Stage:
        """Change ``title``, ``description``, ``color``, ``probability``, ``type`` or
        ``sort_order``."""
        bad = {k: "is not a field of a stage" for k in changes if k not in self._CHANGEABLE}
        if bad:
            raise ValidationError(bad)
        with self._s._tx() as tx:
            policy.require_admin(tx.actor, "change stages")
            stages = tx.uow.stages.list()
            before = _get_stage(stages, stage_id)
            after = attrs.evolve(before, **_clean_stage(changes))
            if "title" in changes:
                _title_free(stages, after.title, stage_id)
            if after.type is not before.type:
                if tx.uow.stages.usage(stage_id):
                    raise Conflict(f"{before.title!r} is in use; its type cannot change")
                _not_last(stages, before, "change its type")
            if after != before:
                tx.uow.stages.update(after)
                tx.emit("stage.updated", after, before=before, after=after)
            return after

    def delete(self, stage_id: int) -> None:
        with self._s._tx() as tx:
            policy.require_admin(tx.actor, "change stages")
            stages = tx.uow.stages.list()
            stage = _get_stage(stages, stage_id)
            used = tx.uow.stages.usage(stage_id)
            if used:
                raise Conflict(
                    f"{stage.title!r} is in use by {used} opportunities and cannot be deleted"
                )
            _not_last(stages, stage, "be deleted")
            tx.uow.stages.delete(stage_id)
            tx.emit("stage.deleted", stage, before=stage)


def _get_stage(stages: Sequence[Stage], stage_id: object) -> Stage:
    stage_id = clean_id(stage_id, "stage_id", Stage)
    found = next((s for s in stages if s.id == stage_id), None)
    if found is None:
        raise NotFound("stage", stage_id)
    return found


def _title_free(stages: Sequence[Stage], title: str, stage_id: int | None) -> None:
    key = title.casefold()
    if any(s.title.casefold() == key and s.id != stage_id for s in stages):
        raise Conflict(f"a stage {title!r} exists already")


def _not_last(stages: Sequence[Stage], stage: Stage, what: str) -> None:
    if sum(1 for s in stages if s.type is stage.type) <= 1:
        raise Conflict(f"{stage.title!r} is the last {stage.type.value} stage and cannot {what}")


def _clean_stage(changes: Mapping[str, Any]) -> dict[str, Any]:
    check = rec.FieldChecker(changes)
    check("title", lambda v: cd.clean_name("title", v, required=True))
    check("description", lambda v: cd.clean_name("description", v, required=False))
    check("probability", _clean_probability)
    check("type", lambda v: _clean_stage_type(v, "type"))

    def color(value: object) -> str:
        if not isinstance(value, str) or not _COLOR.fullmatch(value):
            raise ValidationError({"color": "must be a colour like #6bbd72"})
        return value.lower()

    def order(value: object) -> int:
        return clean_int(value, "sort_order", 0, MAX_ID)

    check("color", color)
    check("sort_order", order)
    return check.done()
