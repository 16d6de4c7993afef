"""A real SMTP server on 127.0.0.1 for the notifier tests (aiosmtpd), that counts the
connections it took and which connection each message came over, refuses chosen
recipients, and can drop connections the way servers do."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller


class Inbox:
    """What the server saw, and how it behaves.

    ``refuse``: recipients answered ``550``. ``per_connection``: after this many messages
    on one connection the server ends it at the next ``MAIL FROM``, either by closing the
    socket without a word (``drop="close"``) or with ``421`` (``drop="421"``).
    """

    def __init__(self) -> None:
        self.connections = 0
        #: (connection number, recipients, raw content) of each accepted message, in order
        self.messages: list[tuple[int, list[str], bytes]] = []
        self.refuse: set[str] = set()
        self.per_connection: int | None = None
        self.drop = "close"
        self._lock = threading.Lock()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        # Counted here, not when a socket opens: the controller's own start-up check opens
        # one and says nothing.
        with self._lock:
            self.connections += 1
            session.number = self.connections
        session.taken = 0
        session.host_name = hostname
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.per_connection is not None and session.taken >= self.per_connection:
            if self.drop == "421":
                server.loop.call_soon(server.transport.close)
                return "421 4.3.2 Too many messages on this connection, closing"
            server.transport.abort()
            return "250 OK"  # never reaches the client
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.messages.append((session.number, list(envelope.rcpt_tos), envelope.content))
        session.taken += 1
        return "250 Message accepted for delivery"

    def recipients(self) -> list[tuple[int, list[str]]]:
        """(connection number, recipients) of each accepted message, in order."""
        return [(n, rcpt) for n, rcpt, _ in self.messages]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    """Run the server on a free port; yield the port and its :class:`Inbox`."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()
