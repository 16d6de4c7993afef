"""Opportunities and cases: the records, their stage, access, custom values and a case's
documents."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import attrs
from moneyed import Money

from opencrm.core.entities.deals import BidType, Case, Opportunity
from opencrm.core.entities.lists import StageType
from opencrm.core.files import CaseDocument
from opencrm.errors import NotFound
from opencrm.http._api import CUSTOM_QUERY, Call, Download, Items, Listing, ListQuery, Route
from opencrm.http._convert import UNSET, unstructure

__all__ = ["ROUTES"]

OPPORTUNITIES = "opportunities"
CASES = "cases"

_CUSTOM = {
    "type": "object",
    "description": "Custom field values by field label (or id); null clears one.",
    "additionalProperties": True,
}
_PROJECT = {
    "description": "The host application's project: its JSON form when it has one (attrs "
    "classes and dataclasses are converted), otherwise its text; null when there is none.",
}


# --- opportunities ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _OpportunityFields:
    description: str = UNSET
    contact: int | None = UNSET
    members: list[int] = UNSET
    budget: Money = UNSET
    bid_type: BidType = UNSET
    period_count: int = UNSET
    expected_close: dt.date | None = UNSET
    actual_close: dt.date | None = UNSET
    responsible: str = UNSET
    stage: int | str = UNSET
    probability: int = UNSET
    tags: list[str] = UNSET
    custom: dict[str, Any] = attrs.field(default=UNSET, metadata={"schema": _CUSTOM})
    restricted: bool = UNSET
    access_list: list[str] = UNSET
    project_ref: str | None = UNSET


@attrs.frozen(kw_only=True)
class OpportunityIn(_OpportunityFields):
    """A new opportunity: ``stage`` is a stage id or title (the first open stage by
    default), ``contact`` and ``members`` are contact ids."""

    title: str


@attrs.frozen(kw_only=True)
class OpportunityPatch(_OpportunityFields):
    """Fields to change; ``restricted`` and ``access_list`` only by a CRM admin or the
    creator."""

    title: str = UNSET


@attrs.frozen(kw_only=True)
class StageIn:
    stage: int | str
    probability: int | None = None


@attrs.frozen(kw_only=True)
class OpportunityQuery(ListQuery):
    text: str = UNSET
    responsible: str = UNSET
    stage: int = UNSET
    stage_type: StageType = UNSET
    contact: int = UNSET
    tags: list[str] = UNSET
    expected_from: dt.date = UNSET
    expected_to: dt.date = UNSET
    custom: list[str] = attrs.field(default=UNSET, metadata=CUSTOM_QUERY)


@attrs.frozen(kw_only=True)
class OpportunityProject:
    """The host application's project of an opportunity."""

    project: Any = attrs.field(metadata={"schema": _PROJECT})


def list_opportunities(c: Call) -> Any:
    return c.page(c.s.opportunities)


def add_opportunity(c: Call) -> Opportunity:
    return c.s.opportunities.add(**c.args())  # type: ignore[no-any-return]


def get_opportunity(c: Call) -> Opportunity:
    return c.s.opportunities.get(c.path["opportunity_id"])  # type: ignore[no-any-return]


def update_opportunity(c: Call) -> Opportunity:
    return c.s.opportunities.update(c.path["opportunity_id"], **c.args())  # type: ignore[no-any-return]


def set_opportunity_stage(c: Call) -> Opportunity:
    return c.s.opportunities.set_stage(  # type: ignore[no-any-return]
        c.path["opportunity_id"], c.body.stage, probability=c.body.probability
    )


def delete_opportunity(c: Call) -> None:
    c.s.opportunities.delete(c.path["opportunity_id"])


def get_opportunity_custom_values(c: Call) -> dict[str, Any]:
    return c.s.opportunities.custom_values(c.path["opportunity_id"])  # type: ignore[no-any-return]


def get_opportunity_project(c: Call) -> OpportunityProject:
    return OpportunityProject(project=_as_json(c.s.opportunities.project(c.path["opportunity_id"])))


def _as_json(value: object) -> Any:
    """A host object as JSON data: attrs classes, dataclasses and JSON values as they are,
    anything else as its text (a project the host gives is opaque to opencrm)."""
    data = unstructure(value)
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError):
        return str(value)
    return data


# --- cases ------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _CaseFields:
    members: list[int] = UNSET
    tags: list[str] = UNSET
    custom: dict[str, Any] = attrs.field(default=UNSET, metadata={"schema": _CUSTOM})
    restricted: bool = UNSET
    access_list: list[str] = UNSET


@attrs.frozen(kw_only=True)
class CaseIn(_CaseFields):
    """A new open case; ``members`` are contact ids."""

    title: str


@attrs.frozen(kw_only=True)
class CasePatch(_CaseFields):
    """Fields to change; ``restricted`` and ``access_list`` only by a CRM admin or the
    creator."""

    title: str = UNSET


@attrs.frozen(kw_only=True)
class CaseQuery(ListQuery):
    text: str = UNSET
    contact: int = UNSET
    tags: list[str] = UNSET
    closed: bool = UNSET
    custom: list[str] = attrs.field(default=UNSET, metadata=CUSTOM_QUERY)


def list_cases(c: Call) -> Any:
    return c.page(c.s.cases)


def add_case(c: Call) -> Case:
    return c.s.cases.add(**c.args())  # type: ignore[no-any-return]


def get_case(c: Call) -> Case:
    return c.s.cases.get(c.path["case_id"])  # type: ignore[no-any-return]


def update_case(c: Call) -> Case:
    return c.s.cases.update(c.path["case_id"], **c.args())  # type: ignore[no-any-return]


def close_case(c: Call) -> Case:
    return c.s.cases.close(c.path["case_id"])  # type: ignore[no-any-return]


def reopen_case(c: Call) -> Case:
    return c.s.cases.reopen(c.path["case_id"])  # type: ignore[no-any-return]


def delete_case(c: Call) -> None:
    c.s.cases.delete(c.path["case_id"])


def get_case_custom_values(c: Call) -> dict[str, Any]:
    return c.s.cases.custom_values(c.path["case_id"])  # type: ignore[no-any-return]


def list_case_documents(c: Call) -> Sequence[CaseDocument]:
    return c.s.cases.documents(c.path["case_id"])  # type: ignore[no-any-return]


def attach_case_document(c: Call) -> CaseDocument:
    upload = c.upload()
    return c.s.cases.attach(  # type: ignore[no-any-return]
        c.path["case_id"], upload.stream, upload.filename
    )


def download_case_document(c: Call) -> Download:
    case_id, document_id = c.path["case_id"], c.path["document_id"]
    document = next(
        (d for d in c.s.cases.documents(case_id) if d.id == document_id),
        None,
    )
    if document is None:
        raise NotFound("document", document_id)
    data = c.s.cases.open_document(case_id, document_id)
    return Download(data, document.content_type, document.name)


def remove_case_document(c: Call) -> None:
    c.s.cases.remove_document(c.path["case_id"], c.path["document_id"])


# --- routes -----------------------------------------------------------------------------------

OPP = "/opportunities/{opportunity_id}"
CASE = "/cases/{case_id}"
DOC = "/cases/{case_id}/documents/{document_id}"

ROUTES = [
    Route(
        method="GET",
        path="/opportunities",
        handler=list_opportunities,
        summary="List the opportunities you may read",
        description="Filters combine with AND; `text` matches the title (so this is also the "
        "opportunity search); `stage` is a stage id, `stage_type` open, won or lost, "
        "`contact` the main contact or a member. Sorts: title, responsible, stage, value, "
        "expected_close, created (`-` for descending). `count=true` adds the total.",
        tag=OPPORTUNITIES,
        query=OpportunityQuery,
        returns=Listing(Opportunity),
        exposes=("opportunities.list", "opportunities.count", "opportunities.search"),
    ),
    Route(
        method="POST",
        path="/opportunities",
        handler=add_opportunity,
        summary="Create an opportunity",
        tag=OPPORTUNITIES,
        body=OpportunityIn,
        returns=Opportunity,
        status=201,
        location=lambda o: f"/opportunities/{o.id}",
        exposes=("opportunities.add",),
    ),
    Route(
        method="GET",
        path=OPP,
        handler=get_opportunity,
        summary="Read an opportunity",
        tag=OPPORTUNITIES,
        returns=Opportunity,
        exposes=("opportunities.get",),
    ),
    Route(
        method="PATCH",
        path=OPP,
        handler=update_opportunity,
        summary="Change fields of an opportunity (also its stage and access)",
        description="Moving to another `stage` takes the stage's probability unless "
        "`probability` is given, and sets or clears `actual_close`.",
        tag=OPPORTUNITIES,
        body=OpportunityPatch,
        returns=Opportunity,
        current=get_opportunity,
        exposes=("opportunities.update", "opportunities.set_access"),
    ),
    Route(
        method="POST",
        path=OPP + "/stage",
        handler=set_opportunity_stage,
        summary="Move an opportunity to a stage (by id or title)",
        tag=OPPORTUNITIES,
        body=StageIn,
        returns=Opportunity,
        exposes=("opportunities.set_stage",),
    ),
    Route(
        method="DELETE",
        path=OPP,
        handler=delete_opportunity,
        summary="Delete an opportunity with its tasks and history",
        tag=OPPORTUNITIES,
        current=get_opportunity,
        exposes=("opportunities.delete",),
    ),
    Route(
        method="GET",
        path=OPP + "/custom-values",
        handler=get_opportunity_custom_values,
        summary="An opportunity's custom values by field label",
        tag=OPPORTUNITIES,
        returns=dict,
        exposes=("opportunities.custom_values",),
    ),
    Route(
        method="GET",
        path=OPP + "/project",
        handler=get_opportunity_project,
        summary="The host application's project of an opportunity",
        description="Answered by the host's `opencrm_opportunity_project` hook; "
        '`{"project": null}` when there is none.',
        tag=OPPORTUNITIES,
        returns=OpportunityProject,
        exposes=("opportunities.project",),
    ),
    Route(
        method="GET",
        path="/cases",
        handler=list_cases,
        summary="List the cases you may read",
        description="Filters combine with AND; `text` matches the title (so this is also the "
        "case search), `contact` a participant. Sorts: title, created (`-` for descending). "
        "`count=true` adds the total.",
        tag=CASES,
        query=CaseQuery,
        returns=Listing(Case),
        exposes=("cases.list", "cases.count", "cases.search"),
    ),
    Route(
        method="POST",
        path="/cases",
        handler=add_case,
        summary="Create a case",
        tag=CASES,
        body=CaseIn,
        returns=Case,
        status=201,
        location=lambda case: f"/cases/{case.id}",
        exposes=("cases.add",),
    ),
    Route(
        method="GET",
        path=CASE,
        handler=get_case,
        summary="Read a case",
        tag=CASES,
        returns=Case,
        exposes=("cases.get",),
    ),
    Route(
        method="PATCH",
        path=CASE,
        handler=update_case,
        summary="Change fields of a case (also its access)",
        tag=CASES,
        body=CasePatch,
        returns=Case,
        current=get_case,
        exposes=("cases.update", "cases.set_access"),
    ),
    Route(
        method="DELETE",
        path=CASE,
        handler=delete_case,
        summary="Delete a case with its documents, tasks and history",
        tag=CASES,
        current=get_case,
        exposes=("cases.delete",),
    ),
    Route(
        method="POST",
        path=CASE + "/close",
        handler=close_case,
        summary="Close a case",
        tag=CASES,
        returns=Case,
        exposes=("cases.close",),
    ),
    Route(
        method="POST",
        path=CASE + "/reopen",
        handler=reopen_case,
        summary="Reopen a closed case",
        tag=CASES,
        returns=Case,
        exposes=("cases.reopen",),
    ),
    Route(
        method="GET",
        path=CASE + "/custom-values",
        handler=get_case_custom_values,
        summary="A case's custom values by field label",
        tag=CASES,
        returns=dict,
        exposes=("cases.custom_values",),
    ),
    Route(
        method="GET",
        path=CASE + "/documents",
        handler=list_case_documents,
        summary="The documents of a case, oldest first",
        tag=CASES,
        returns=Items(CaseDocument),
        exposes=("cases.documents",),
    ),
    Route(
        method="POST",
        path=CASE + "/documents",
        handler=attach_case_document,
        summary="Attach a document to a case (multipart field `file`)",
        description="The type is told from the bytes, never from the name; empty, too large "
        "and unaccepted files are refused (422) and nothing is stored.",
        tag=CASES,
        upload=True,
        returns=CaseDocument,
        status=201,
        location=lambda d: f"/cases/{d.case_id}/documents/{d.id}",
        exposes=("cases.attach",),
    ),
    Route(
        method="GET",
        path=DOC,
        handler=download_case_document,
        summary="Download a case document (always as an attachment)",
        tag=CASES,
        returns=Download,
        download_type="*/*",
        exposes=("cases.open_document",),
    ),
    Route(
        method="DELETE",
        path=DOC,
        handler=remove_case_document,
        summary="Remove a document from a case",
        tag=CASES,
        exposes=("cases.remove_document",),
    ),
]
