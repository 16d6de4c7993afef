"""Include in the project's urls: ``path("crm/", include("opencrm_django.urls"))``.

Every path under the mount goes to the one view, which the API routes. The view never runs
inside ``ATOMIC_REQUESTS``: opencrm commits each call in its own transaction (see the
transactions section of the Django guide).
"""

from __future__ import annotations

from django.urls import re_path

from opencrm_django.views import api_view

app_name = "opencrm"


class _EveryAlias(frozenset[str]):
    """Every database alias, so ``ATOMIC_REQUESTS`` wraps the view for none of them
    (what ``transaction.non_atomic_requests`` does per alias, without reading
    ``DATABASES`` at import)."""

    def __contains__(self, alias: object) -> bool:
        return True


api_view._non_atomic_requests = _EveryAlias()

urlpatterns = [re_path(r"^(?P<path>[\s\S]*)\Z", api_view, name="api")]
