from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from crm.core.views import home, preferences_page

urlpatterns = [
    path("", home, name="home"),
    path("settings/preferences/", preferences_page, name="preferences"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("contacts/", include("crm.contacts.urls")),
    path("accounts/", include("crm.accounts.urls")),
    path("", include("crm.activities.urls")),
    path("", include("crm.cards.urls")),
    path("", include("mailsync.urls")),
    path("", include("calendars.urls")),
    path("api/", include("crm.api.urls")),
    path("admin/", admin.site.urls),
]
