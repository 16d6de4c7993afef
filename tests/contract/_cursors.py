"""Forging list cursors in tests: a payload signed the way opencrm signs its own.

A cursor is ``base64url(JSON [sort, values]) "." base64url(HMAC-SHA256(secret, list + "\\n" +
payload))[:16 bytes]``, keyed by the secret in the settings table. Tests sign forged values
with it, so the checks behind the signature (value types, counts, ranges) stay tested.
"""

from __future__ import annotations

import base64
import hmac
import json

import sqlalchemy as sa

from opencrm import CRM


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def secret(crm: CRM) -> bytes:
    with crm.engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT value FROM settings WHERE key = 'cursor_secret'")
        ).scalar_one()
    return bytes.fromhex(json.loads(stored))


def sign_payload(crm: CRM, list_name: str, payload: str) -> str:
    mac = hmac.digest(secret(crm), f"{list_name}\n{payload}".encode(), "sha256")[:16]
    return f"{payload}.{_b64(mac)}"


def forge(crm: CRM, list_name: str, sort: str, values: object) -> str:
    """A correctly signed cursor of ``list_name`` carrying any JSON ``values``."""
    return sign_payload(crm, list_name, _b64(json.dumps([sort, values]).encode()))


def payload(cursor: str) -> list[object]:
    """The JSON inside a cursor opencrm handed out: [sort, values]."""
    data = cursor.partition(".")[0]
    decoded: list[object] = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    return decoded
