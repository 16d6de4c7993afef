"""The example project's URLs: the admin, a sign-in page, the shop and the CRM's API."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("shop/", include("shop.urls")),
    path("crm/", include("opencrm_django.urls")),  # every route of opencrm's HTTP API
]
