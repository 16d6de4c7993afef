"""SQLAlchemy Core storage for SQLite and PostgreSQL."""

from opencrm.storage.sqlalchemy.engine import create_engine_for, upgrade
from opencrm.storage.sqlalchemy.uow import SqlUnitOfWork

__all__ = ["SqlUnitOfWork", "create_engine_for", "upgrade"]
