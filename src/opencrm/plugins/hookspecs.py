"""Every hook opencrm calls. Each docstring here is the plugin author's reference.

Hooks are grouped by when they run. Implement one with ``@opencrm.plugins.hookimpl`` in a
module or class registered under the ``opencrm`` entry-point group, or passed to
``CRM.open(..., plugins=[...])``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from opencrm.core.entities.contacts import Contact
    from opencrm.core.entities.deals import Opportunity
    from opencrm.core.entities.web_forms import WebForm
    from opencrm.core.events import Event
    from opencrm.core.fields import FieldType
    from opencrm.core.jobs import Job
    from opencrm.core.ports import Message, UnitOfWork
    from opencrm.core.reports import Report
    from opencrm.core.telephony import Telephony
    from opencrm.crm import CRM

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("opencrm")
hookimpl = pluggy.HookimplMarker("opencrm")


# --- Registration: called once, when a CRM is opened --------------------------------------


@hookspec
def opencrm_register_field_types(crm: CRM) -> Sequence[FieldType]:
    """Return custom field types to add to the CRM's field type registry.

    Each item is an instance of a :class:`opencrm.core.fields.FieldType` subclass with a unique
    ``name``. A name registered twice stops ``CRM.open`` with an error.

    :param crm: the CRM being opened.
    :return: field type instances (may be empty).
    """
    raise NotImplementedError  # a specification: pluggy calls the implementations


@hookspec
def opencrm_register_reports(crm: CRM) -> Sequence[type[Report]]:
    """Return report types to add to the CRM's report registry.

    Each item is a :class:`opencrm.core.reports.Report` subclass with a unique ``name``, a
    ``title``, the ``periods`` it offers and a ``build(ctx)`` that returns tables made from
    ``ctx.aggregate(...)`` queries. The ten built-in reports are registered this way too and
    come first; a name registered twice stops ``CRM.open`` with an error.

    :param crm: the CRM being opened.
    :return: report classes (may be empty).
    """
    raise NotImplementedError  # a specification: pluggy calls the implementations


# --- Changes: called for every service call that changes data -----------------------------


@hookspec
def opencrm_before_commit(crm: CRM, uow: UnitOfWork, events: Sequence[Event]) -> None:
    """Called inside the transaction, after a change and just before it commits.

    Write to the same unit of work to make your records part of the change (the built-in audit
    trail does this); raise an :class:`opencrm.errors.OpenCRMError` to veto the whole change,
    which is then rolled back. Do not send mail or call services here: the change may still fail.

    :param crm: the CRM.
    :param uow: the open unit of work of the change.
    :param events: the domain events of the change, in order.
    """


@hookspec
def opencrm_event_committed(crm: CRM, event: Event) -> None:
    """Called once per domain event after its transaction has committed; never for a
    rolled-back change.

    React here: notify, sync to another system, enqueue work. An exception raised here is
    logged and does not undo the change or stop other plugins.

    :param crm: the CRM.
    :param event: the event; ``event.name`` is ``"<entity_type>.<verb>"``.
    """


# --- Lookups: called when a service needs an answer only the host has -------------------------


@hookspec(firstresult=True)
def opencrm_opportunity_project(crm: CRM, opportunity: Opportunity) -> object | None:
    """Return the host application's project linked to an opportunity, or None.

    Called by ``session.opportunities.project(opportunity)``, after the acting user's right to
    read the opportunity was checked. opencrm stores only ``opportunity.project_ref``, an
    opaque string the host chose; resolve it to whatever object the host calls a project.
    ``firstresult``: the first implementation returning something other than None answers.

    :param crm: the CRM.
    :param opportunity: the opportunity, as the acting user reads it.
    :return: the project, or None when the host has none for it.
    """


# --- Delivery: called for every notification opencrm sends ----------------------------------


@hookspec(firstresult=True)
def opencrm_deliver_notification(crm: CRM, message: Message) -> bool | None:
    """Deliver a notification yourself (a chat, a queue, the host's own mailer).

    Called for every message opencrm sends (access granted, responsible for an opportunity,
    ``invoices.send``), before the CRM's notifier. ``firstresult``: the first implementation
    returning True has delivered the message, and neither the remaining implementations nor
    the notifier are called; return None (or False) to leave it to them.

    :param crm: the CRM.
    :param message: the :class:`opencrm.Message` (recipients, subject, text, HTML, attachments,
        language).
    :return: True when delivered, else None.
    """


# --- Telephony: called when a VoIP service or webhook needs the provider ---------------------


@hookspec(firstresult=True)
def opencrm_telephony_provider(
    crm: CRM, provider: str, account_sid: str, auth_token: str
) -> Telephony | None:
    """Return the telephony provider named ``provider``, built for this account, or None
    when you do not provide it.

    Called whenever ``session.voip`` or a webhook needs the provider (the account is read
    from the database each time, so every app server sees a changed token at once). The
    built-in plugin answers ``"twilio"``; plugins registered later are asked first, so a
    plugin may also replace Twilio. ``firstresult``: the first implementation returning
    something other than None answers. Never log ``auth_token``.

    :param crm: the CRM.
    :param provider: the provider name stored by ``session.voip.connect``.
    :param account_sid: the account id.
    :param auth_token: the account's secret.
    :return: an object implementing :class:`opencrm.core.telephony.Telephony`, or None.
    """


# --- Jobs: called when long work is started ---------------------------------------------------


@hookspec(firstresult=True)
def opencrm_dispatch_job(crm: CRM, job: Job) -> bool | None:
    """Run a job in the host's own worker system (Celery, RQ, a cron-driven runner).

    Called once a job (an export, an import) has been queued and its row committed.
    ``firstresult``: the first implementation returning True has taken the job; opencrm then
    does nothing more with it. Enqueue only ``job.id`` and have the worker call
    ``crm.jobs.run(job_id)`` on a CRM opened on the same database: the job's state, owner and
    parameters are read from there. Return None (or False) to let opencrm run the job in a
    background thread of the current process (the default).

    :param crm: the CRM.
    :param job: the queued :class:`opencrm.core.jobs.Job` (``id``, ``kind``, ``owner``,
        ``params``).
    :return: True when the host has taken the job, else None.
    """


# --- Merging: called inside the transaction of a contact merge -------------------------------


@hookspec
def opencrm_move_contact_references(
    crm: CRM, uow: UnitOfWork, source: Contact, target: Contact
) -> None:
    """Re-point your plugin's own references from ``source`` to ``target``.

    Called by ``session.contacts.merge`` inside its transaction, after opencrm has moved its
    own rows to the target and before the source is deleted (so a foreign key of yours with
    ``ON DELETE CASCADE`` has not fired yet). Write through ``uow`` (on the SQLAlchemy
    storage ``uow.connection`` is the transaction's connection); raise an
    :class:`opencrm.errors.OpenCRMError` to refuse the merge, which is then rolled back.

    :param crm: the CRM.
    :param uow: the open unit of work of the merge.
    :param source: the contact being merged away, as it was before the merge.
    :param target: the contact that stays, as it was before the merge.
    """


# --- Website contact forms ----------------------------------------------------------------


@hookspec
def opencrm_web_form_spam(
    crm: CRM, form: WebForm, values: dict[str, object], client: str
) -> bool | None:
    """Say whether a post to a website contact form is spam.

    Called for each post that passed the form's key, rate limit, honeypot and validation,
    before anything is stored. When any implementation returns True the visitor gets the
    same answer as for a success (so a bot learns nothing) and nothing is stored. Keep it
    fast: it runs in the visitor's request.

    :param crm: the CRM.
    :param form: the :class:`opencrm.WebForm` posted to (its ``key`` included: do not log it).
    :param values: the validated values (``first_name``, ``email``, ``about``..., and
        ``custom`` mapping labels to texts).
    :param client: the client address the HTTP layer saw (see the web forms guide).
    :return: True for spam, else None or False.
    """
