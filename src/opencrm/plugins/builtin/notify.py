"""Built-in notifiers: an outbox in memory and SMTP through the standard library.

Pass one to ``CRM.open(..., notifier=...)``. Neither is a pluggy plugin: a notifier is the
CRM's default transport; plugins that deliver elsewhere implement the
``opencrm_deliver_notification`` hook instead.
"""

from __future__ import annotations

import smtplib
import ssl as _ssl
import threading
from collections.abc import Iterator, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from opencrm.core.ports import Message

__all__ = ["OutboxNotifier", "SmtpNotifier", "to_email"]


class OutboxNotifier:
    """Keeps every message in ``messages``, in order: for tests, demos, and hosts that send
    mail themselves (drain it with :meth:`take`)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        with self._lock:
            self.messages.append(message)

    def take(self) -> list[Message]:
        """Return the messages sent so far and empty the outbox."""
        with self._lock:
            taken, self.messages = self.messages, []
        return taken

    def __iter__(self) -> Iterator[Message]:
        return iter(list(self.messages))

    def __len__(self) -> int:
        return len(self.messages)


def to_email(message: Message, from_address: str) -> EmailMessage:
    """``message`` as a MIME e-mail: text, an HTML alternative, then the attachments."""
    mail = EmailMessage()
    mail["From"] = from_address
    mail["To"] = ", ".join(message.to)
    # A header value never breaks a line, whatever a plugin put into the subject.
    mail["Subject"] = " ".join(p.strip() for p in message.subject.splitlines() if p.strip())
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2] or None)
    mail.set_content(message.text)
    if message.html is not None:
        mail.add_alternative(message.html, subtype="html")
    for item in message.attachments:
        maintype, _, subtype = item.content_type.partition("/")
        mail.add_attachment(
            item.data,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=item.filename,
        )
    if message.language:
        # After the body: set_content() and add_attachment() move Content-* headers.
        mail["Content-Language"] = message.language.replace("_", "-")
    return mail


class SmtpNotifier:
    """Sends messages over SMTP with the standard library (no background thread): one
    connection per :meth:`send`, one connection per batch with :meth:`send_many`.

    :param host: the SMTP server.
    :param port: its port (defaults: 465 with ``ssl``, else 587 with ``starttls``, else 25).
    :param from_address: the ``From`` address of every message.
    :param starttls: upgrade a plain connection with STARTTLS (refuses a server without it).
    :param ssl: connect over TLS from the start (SMTPS); exclusive with ``starttls``.
    :param username: log in with these credentials when given.
    :param password: the password for ``username``.
    :param timeout: seconds to wait for the server.
    :param ssl_context: the TLS context (default: the system's, with certificate checks).
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        from_address: str,
        starttls: bool = False,
        ssl: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        ssl_context: _ssl.SSLContext | None = None,
    ) -> None:
        if starttls and ssl:
            raise ValueError("choose starttls or ssl, not both")
        self.host = host
        self.port = port if port is not None else (465 if ssl else 587 if starttls else 25)
        self.from_address = from_address
        self.starttls = starttls
        self.ssl = ssl
        self.username = username
        self.password = password
        self.timeout = timeout
        self.ssl_context = ssl_context

    def send(self, message: Message) -> None:
        (failure,) = self.send_many([message])
        if failure is not None:
            raise failure

    def send_many(self, messages: Sequence[Message]) -> list[Exception | None]:
        """Send ``messages`` over one connection, in order; one result per message (None:
        the server took it, else its error). A message the server refuses (every recipient
        refused, the sender or the content refused) fails alone: the connection goes on
        with the next one. When the server drops the connection (or says 421, closing), it
        is opened again once and the message sent again; if that fails too, the message
        and the rest of the batch fail with that error. A message whose acceptance was
        lost with the connection may so arrive twice: SMTP cannot tell."""
        results: list[Exception | None] = []
        smtp: smtplib.SMTP | None = None
        try:
            for n, message in enumerate(messages):
                try:
                    mail = to_email(message, self.from_address)
                except Exception as exc:  # a header the e-mail package refuses
                    results.append(exc)
                    continue
                failure: Exception | None = None
                for attempt in (1, 2):
                    if smtp is None:
                        try:
                            smtp = self._connect()
                        except Exception as exc:
                            # No connection to be had: the rest cannot go either.
                            results.extend([exc] * (len(messages) - n))
                            return results
                    try:
                        smtp.send_message(mail)
                    except Exception as exc:
                        failure = exc
                        if _dropped(exc) or not isinstance(exc, smtplib.SMTPException):
                            # Closed by the server, or in a state we cannot know: a new
                            # connection, and this message once more on it.
                            smtp.close()
                            smtp = None
                            if attempt == 1 and _dropped(exc):
                                continue
                    else:
                        failure = None
                    break
                if failure is not None and smtp is None and _dropped(failure):
                    # Dropped twice on the same message: the server will not take more now.
                    results.extend([failure] * (len(messages) - n))
                    return results
                results.append(failure)
            return results
        finally:
            if smtp is not None:
                _quit(smtp)

    def _connect(self) -> smtplib.SMTP:
        context = self.ssl_context or _default_context()
        smtp: smtplib.SMTP
        if self.ssl:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls:
                smtp.starttls(context=context)
            if self.username is not None:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp


def _dropped(exc: Exception) -> bool:
    """Whether ``exc`` says the server closed the connection (not that it refused a
    message): a lost connection, or a 421 ("service not available, closing")."""
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(code == 421 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code == 421


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _default_context() -> _ssl.SSLContext:
    return _ssl.create_default_context()
