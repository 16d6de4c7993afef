"""Sending a batch of messages: the SMTP notifier over one connection against a real local
SMTP server (connections and messages counted there), and the default for notifiers that
only have ``send``."""

from __future__ import annotations

import email
import email.policy
import smtplib
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from opencrm import Message, OutboxNotifier, SmtpNotifier, hookimpl
from opencrm.core.notify import deliver_many, send_many
from opencrm.core.ports import BatchNotifier
from opencrm.errors import NotConfigured
from opencrm.plugins.manager import make_plugin_manager
from smtp_server import Inbox, free_port, smtp_server

REFUSED = (550, b"5.1.1 <p2@example.com>: mailbox unavailable")


def batch(count: int = 5) -> list[Message]:
    return [
        Message(to=f"p{i}@example.com", subject=f"News {i}", text=f"Hello {i}")
        for i in range(count)
    ]


@pytest.fixture
def server() -> Iterator[tuple[int, Inbox]]:
    with smtp_server() as running:
        yield running


def notifier(port: int) -> SmtpNotifier:
    return SmtpNotifier("127.0.0.1", port, from_address="news@seller.example")


def test_a_batch_goes_over_one_connection_and_a_refused_recipient_fails_alone(
    server: tuple[int, Inbox],
) -> None:
    port, inbox = server
    inbox.refuse = {"p2@example.com"}
    results = notifier(port).send_many(batch())
    assert [None if r is None else type(r) for r in results] == [
        None,
        None,
        smtplib.SMTPRecipientsRefused,
        None,
        None,
    ]
    refused = results[2]
    assert isinstance(refused, smtplib.SMTPRecipientsRefused)
    assert refused.recipients == {"p2@example.com": REFUSED}
    assert inbox.connections == 1
    assert inbox.recipients() == [
        (1, ["p0@example.com"]),
        (1, ["p1@example.com"]),
        (1, ["p3@example.com"]),
        (1, ["p4@example.com"]),
    ]
    mail: Any = email.message_from_bytes(inbox.messages[3][2], policy=email.policy.default)
    assert (mail["From"], mail["To"], mail["Subject"]) == (
        "news@seller.example",
        "p4@example.com",
        "News 4",
    )
    assert mail.get_content() == "Hello 4\r\n"


@pytest.mark.parametrize("drop", ["close", "421"])
def test_a_dropped_connection_is_opened_again_and_the_message_sent_again(
    server: tuple[int, Inbox], drop: str
) -> None:
    port, inbox = server
    inbox.per_connection = 2  # like a server that takes at most two messages a connection
    inbox.drop = drop
    inbox.refuse = {"p2@example.com"}
    results = notifier(port).send_many(batch())
    assert [getattr(r, "recipients", r) for r in results] == [
        None,
        None,
        {"p2@example.com": REFUSED},
        None,
        None,
    ]
    # p2 met the drop on the first connection and was refused on the second, which took
    # the two after it
    assert inbox.recipients() == [
        (1, ["p0@example.com"]),
        (1, ["p1@example.com"]),
        (2, ["p3@example.com"]),
        (2, ["p4@example.com"]),
    ]
    assert inbox.connections == 2


@pytest.mark.parametrize(
    ("drop", "error"),
    [("close", smtplib.SMTPServerDisconnected), ("421", smtplib.SMTPSenderRefused)],
)
def test_a_server_that_drops_the_same_message_twice_fails_the_rest_of_the_batch(
    server: tuple[int, Inbox], drop: str, error: type[Exception]
) -> None:
    port, inbox = server
    inbox.per_connection = 0
    inbox.drop = drop
    results = notifier(port).send_many(batch())
    assert len(results) == 5
    assert all(isinstance(r, error) for r in results)
    assert len({id(r) for r in results}) == 1  # one error: the rest were not tried
    assert inbox.messages == []
    assert inbox.connections == 2  # one reconnection, not one per message


def test_a_server_that_cannot_be_reached_fails_every_message() -> None:
    down = notifier(free_port())
    results = down.send_many(batch(3))
    assert [type(r) for r in results] == [ConnectionRefusedError] * 3
    with pytest.raises(ConnectionRefusedError):
        down.send(batch(1)[0])


def test_send_is_one_message_over_its_own_connection(server: tuple[int, Inbox]) -> None:
    port, inbox = server
    inbox.refuse = {"p2@example.com"}
    smtp = notifier(port)
    for message in batch(2):
        smtp.send(message)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
        smtp.send(batch(3)[2])
    assert caught.value.recipients == {"p2@example.com": REFUSED}
    assert inbox.connections == 3
    assert inbox.recipients() == [(1, ["p0@example.com"]), (2, ["p1@example.com"])]
    assert send_many(smtp, []) == []


def test_an_empty_batch_opens_no_connection(server: tuple[int, Inbox]) -> None:
    port, inbox = server
    assert notifier(port).send_many([]) == []
    assert inbox.connections == 0


# --- the default for notifiers with send only ---------------------------------------------------


class SendOnly:
    """A notifier written before batches: ``send`` alone, refusing one address."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, message: Message) -> None:
        if "p1@example.com" in message.to:
            raise OSError("550 no such mailbox")
        self.sent.append(message)


class Subclassed(BatchNotifier):
    """Subclasses the batch port and inherits its default ``send_many``."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, message: Message) -> None:
        if "p1@example.com" in message.to:
            raise OSError("550 no such mailbox")
        self.sent.append(message)


@pytest.mark.parametrize("cls", [SendOnly, Subclassed])
def test_a_notifier_without_its_own_batch_send_gets_one_send_per_message(cls: Any) -> None:
    target = cls()
    results = send_many(target, batch(3))
    assert [None if r is None else str(r) for r in results] == [None, "550 no such mailbox", None]
    assert [m.to for m in target.sent] == [("p0@example.com",), ("p2@example.com",)]


class Broken:
    def __init__(self, answer: Sequence[Exception | None] | None) -> None:
        self.answer = answer

    def send(self, message: Message) -> None:
        raise AssertionError("send_many is used")

    def send_many(self, messages: Sequence[Message]) -> Sequence[Exception | None]:
        if self.answer is None:
            raise RuntimeError("the queue is full")
        return self.answer


def test_a_faulty_batch_send_fails_each_message_of_it() -> None:
    results = send_many(Broken(None), batch(2))
    assert [str(r) for r in results] == ["the queue is full"] * 2
    results = send_many(Broken([None]), batch(2))
    assert [str(r) for r in results] == ["Broken.send_many returned 1 results for 2 messages"] * 2


class TakesEvenOnes:
    """A plugin that delivers the messages to even-numbered recipients itself."""

    @hookimpl
    def opencrm_deliver_notification(self, crm: Any, message: Message) -> bool | None:
        if message.to[0] == "p3@example.com":
            raise RuntimeError("chat is down")
        return int(message.to[0][1]) % 2 == 0 or None


def test_plugins_take_single_messages_and_the_notifier_gets_the_rest_as_one_batch() -> None:
    pm = make_plugin_manager(plugins=[TakesEvenOnes()], load_entrypoints=False)

    class Counting(OutboxNotifier):
        def __init__(self) -> None:
            super().__init__()
            self.batches: list[int] = []

        def send_many(self, messages: Sequence[Message]) -> list[Exception | None]:
            self.batches.append(len(messages))
            for message in messages:
                self.send(message)
            return [None] * len(messages)

    outbox = Counting()
    results = deliver_many(pm.hook, None, outbox, batch(6))
    assert [None if r is None else str(r) for r in results] == [
        None,
        None,
        None,
        "chat is down",
        None,
        None,
    ]
    assert outbox.batches == [2]
    assert [m.to for m in outbox.take()] == [("p1@example.com",), ("p5@example.com",)]
    nobody = deliver_many(pm.hook, None, None, batch(2))
    assert nobody[0] is None
    assert isinstance(nobody[1], NotConfigured)
