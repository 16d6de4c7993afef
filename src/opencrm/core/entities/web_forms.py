"""Website contact forms (S8): what an admin builds and what a visitor's post becomes."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import attrs

from opencrm.core.entities.contacts import Access

__all__ = ["WebForm", "WebFormKind", "WebFormResult"]


class WebFormKind(StrEnum):
    PERSON = "person"
    COMPANY = "company"


@attrs.frozen(kw_only=True)
class WebForm:
    """A contact form to publish on a website.

    ``fields`` are the inputs the snippet shows, in order: built-in names (a person form:
    ``first_name`` (always there), ``last_name``, ``job_title``, ``company`` (a company name:
    linked to the company of that name, created when there is none), ``email``, ``phone``,
    ``website``, ``about``; a company form: ``name`` (always there), ``industry`` and the
    same contact fields) and custom fields as ``custom:<label>``. ``required`` is a subset of
    ``fields``. ``tags``, ``managers`` and ``access`` are given to every contact created;
    ``notify`` (user ids) hear of each post; a post may return only to one of
    ``return_urls`` (the first is the default). ``rate_limit`` posts per client address per
    hour are accepted. ``key`` is the secret the snippet carries: rotating it makes every
    published copy of the form stop working.
    """

    id: int
    name: str
    kind: WebFormKind
    fields: tuple[str, ...]
    required: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    managers: frozenset[str] = frozenset()
    access: Access = Access.PRIVATE
    notify: tuple[str, ...] = ()
    return_urls: tuple[str, ...] = ()
    rate_limit: int = 10
    key: str
    posts: int = 0
    created_by: str
    created_at: dt.datetime
    updated_by: str
    updated_at: dt.datetime


@attrs.frozen(kw_only=True)
class WebFormResult:
    """What became of a post: ``outcome`` is ``created`` (a new contact), ``attached`` (a
    history event on the existing contact it duplicates) or ``ignored`` (caught as spam:
    answered like a success, nothing stored). ``redirect`` is the allowed return URL to
    send the visitor to, or None (then answer with a short thank-you page)."""

    outcome: str
    redirect: str | None
    contact_id: int | None = None
