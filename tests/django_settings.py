"""The Django project of the tests: opencrm's app on SQLite (alias ``default``) and
PostgreSQL (alias ``postgresql``, the server of the other PostgreSQL tests). Each test run
gets its own SQLite file and its own PostgreSQL test database, so parallel runs are safe."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

_RUN = uuid.uuid4().hex[:10]
_DIR = Path(tempfile.mkdtemp(prefix="opencrm-django-"))
_PG = urlsplit(
    os.environ.get("OPENCRM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
)

SECRET_KEY = "tests-only-" + _RUN
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost"]
USE_TZ = True
ROOT_URLCONF = "django_urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "opencrm_django",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [  # the admin's (opencrm's read-only admin pages are tested)
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(_DIR / "host.db"),
        "TEST": {"NAME": str(_DIR / "test-host.db")},
    },
    "postgresql": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _PG.path.lstrip("/"),
        "USER": unquote(_PG.username or ""),
        "PASSWORD": unquote(_PG.password or ""),
        "HOST": _PG.hostname or "",
        "PORT": str(_PG.port or ""),
        "TEST": {"NAME": f"test_opencrm_django_{_RUN}"},
    },
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only
