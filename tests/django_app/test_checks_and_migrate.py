"""System checks, and opencrm's schema through ``manage.py migrate``."""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.migrations.exceptions import IrreversibleError
from django.test import override_settings
from opencrm_django.checks import check_settings
from opencrm_django.runtime import database_url, get_crm

from opencrm.storage.sqlalchemy.engine import current_revision, head_revision


def ids(**settings: object) -> list[tuple[str, str]]:
    with override_settings(**settings):
        return [(e.id, e.msg) for e in check_settings()]


def test_the_tests_project_passes_the_checks() -> None:
    assert check_settings() == []
    out = io.StringIO()
    call_command("check", stdout=out)
    assert "no issues" in out.getvalue()


def test_mysql_is_e001() -> None:
    mysql = {"ENGINE": "django.db.backends.mysql", "NAME": "crm"}
    with pytest.warns(UserWarning, match="Overriding setting DATABASES"):
        found = ids(
            DATABASES={**settings.DATABASES, "mysql": mysql}, OPENCRM_DATABASE_ALIAS="mysql"
        )
    assert found == [
        (
            "opencrm.E001",
            "DATABASES['mysql'] uses django.db.backends.mysql; opencrm stores its data in "
            "SQLite or PostgreSQL only (MySQL and MariaDB are not supported yet)",
        )
    ]


def test_a_missing_or_wrong_user_adapter_is_e002() -> None:
    missing = ids(OPENCRM_USER_ADAPTER="no_such_module.Adapter")
    assert [i for i, _ in missing] == ["opencrm.E002"]
    assert "'no_such_module.Adapter' cannot be imported" in missing[0][1]
    assert ids(OPENCRM_USER_ADAPTER="opencrm_django.conf.DEFAULTS") == [
        ("opencrm.E002", "OPENCRM_USER_ADAPTER 'opencrm_django.conf.DEFAULTS' is not a class")
    ]
    assert ids(OPENCRM_USER_ADAPTER="opencrm_django.apps.OpenCRMConfig") == [
        (
            "opencrm.E002",
            "OPENCRM_USER_ADAPTER 'opencrm_django.apps.OpenCRMConfig' lacks user_for, directory",
        )
    ]


def test_bad_settings_are_e003() -> None:
    assert ids(
        OPENCRM_DATABASE_ALIAS="nope",
        OPENCRM_MAX_JSON_BYTES=0,
        OPENCRM_MAX_UPLOAD_BYTES="10MB",
        OPENCRM_TRUSTED_ORIGINS="https://app.example",
        OPENCRM_CRM_OPTIONS={"directory": None},
    ) == [
        (
            "opencrm.E003",
            "OPENCRM_DATABASE_ALIAS 'nope' is not an alias in DATABASES (default, postgresql)",
        ),
        ("opencrm.E003", "OPENCRM_MAX_JSON_BYTES must be a positive number of bytes, not 0"),
        (
            "opencrm.E003",
            "OPENCRM_MAX_UPLOAD_BYTES must be a positive number of bytes, not '10MB'",
        ),
        ("opencrm.E003", "OPENCRM_TRUSTED_ORIGINS must be a list of origins"),
        ("opencrm.E003", "OPENCRM_CRM_OPTIONS may not set directory: the app sets it"),
    ]
    assert ids(OPENCRM_TRUSTED_ORIGINS=["app.example"]) == [
        ("opencrm.E003", "OPENCRM_TRUSTED_ORIGINS every origin must start with http:// or https://")
    ]
    assert ids(OPENCRM_TRUSTED_PROXIES="10.0.0.1") == [
        ("opencrm.E003", "OPENCRM_TRUSTED_PROXIES must be a list of addresses or networks")
    ]
    assert ids(OPENCRM_TRUSTED_PROXIES=["10.0.0.0/8", "proxy.local"]) == [
        ("opencrm.E003", "OPENCRM_TRUSTED_PROXIES 'proxy.local' is no address or network")
    ]


def test_the_sqlalchemy_url_follows_djangos_settings() -> None:
    url, options = database_url("postgresql")
    assert url.startswith("postgresql+psycopg://postgres@127.0.0.1:5432/test_opencrm_django_")
    assert options == {}
    assert database_url("default")[0].endswith("/test-host.db")


def test_migrate_brings_opencrms_schema_to_head(alias: str) -> None:
    """The test database was built by `migrate` (pytest-django runs it): opencrm's Alembic
    revisions ran from the Django migration, and the CRM opens on it at head."""
    assert current_revision(get_crm().engine) == head_revision()
    out = io.StringIO()
    call_command("showmigrations", "opencrm", database=alias, stdout=out)
    assert out.getvalue().split() == [
        "opencrm",
        "[X]",
        "0001_opencrm_schema",
        "[X]",
        "0002_mirrored_tables",
    ]
    call_command("migrate", "opencrm", database=alias, verbosity=0)  # nothing left to do


def test_migrate_opencrm_zero_refuses_and_keeps_the_data(alias: str) -> None:
    with pytest.raises(IrreversibleError, match="tables hold the CRM's records"):
        call_command("migrate", "opencrm", "zero", database=alias, verbosity=0)
    assert current_revision(get_crm().engine) == head_revision()
    out = io.StringIO()
    call_command("showmigrations", "opencrm", database=alias, stdout=out)
    # 0002 (the unmanaged models, no tables) was reversed before 0001 refused
    assert out.getvalue().split()[:3] == ["opencrm", "[X]", "0001_opencrm_schema"]
    call_command("migrate", "opencrm", database=alias, verbosity=0)  # 0002 again, a no-op
