"""Include in the project's urls: ``path("crm/", include("opencrm_django.urls"))``.

Every path under the mount goes to the one view, which the API routes. The view never runs
inside ``ATOMIC_REQUESTS``: opencrm commits each call in its own transaction (see the
transactions section of the Django guide).
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.urls import re_path

from opencrm_django.views import api_view

app_name = "opencrm"

_view = api_view
for _alias in settings.DATABASES:
    _view = transaction.non_atomic_requests(using=_alias)(_view)

urlpatterns = [re_path(r"^(?P<path>[\s\S]*)\Z", _view, name="api")]
