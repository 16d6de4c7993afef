"""Built-in notifiers: an outbox in memory and SMTP through the standard library.

Pass one to ``CRM.open(..., notifier=...)``. Neither is a pluggy plugin: a notifier is the
CRM's default transport; plugins that deliver elsewhere implement the
``opencrm_deliver_notification`` hook instead.
"""

from __future__ import annotations

import smtplib
import ssl as _ssl
import threading
from collections.abc import Iterator
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
    """Sends each message over SMTP (one connection per message; no background thread).

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
        mail = to_email(message, self.from_address)
        context = self.ssl_context or _default_context()
        smtp: smtplib.SMTP
        if self.ssl:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.starttls:
                smtp.starttls(context=context)
            if self.username is not None:
                smtp.login(self.username, self.password or "")
            smtp.send_message(mail)


def _default_context() -> _ssl.SSLContext:
    return _ssl.create_default_context()
