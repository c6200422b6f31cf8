from django.urls import path

from calendars import views

urlpatterns = [
    path("settings/calendar/", views.calendar_settings_page, name="calendar-settings"),
    path(
        "calendar/push/<str:kind>/<int:item_id>/",
        views.item_push_again_page,
        name="calendar-push-again",
    ),
]
