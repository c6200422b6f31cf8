from django.urls import path

from mailsync import views, views_microsoft, views_settings

urlpatterns = [
    # The full message page ("message") is routed by crm/cards: it links to contact cards.
    path("emails/<int:message_id>/body/", views.message_body_fragment, name="message-body"),
    # Settings > Mailbox sync: always the signed-in user's own mailbox, never an id in the URL.
    path("settings/mailbox/", views_settings.mailbox_settings_page, name="mailbox-settings"),
    path(
        "settings/mailbox/status.json",
        views_settings.mailbox_status_json,
        name="mailbox-status-json",
    ),
    path("settings/mailbox/connect/", views_settings.mailbox_connect_page, name="mailbox-connect"),
    path(
        "settings/mailbox/connect/provider/",
        views_settings.mailbox_connect_provider_page,
        name="mailbox-connect-provider",
    ),
    path(
        "settings/mailbox/connect/imap/",
        views_settings.mailbox_connect_imap_page,
        name="mailbox-connect-imap",
    ),
    path(
        "settings/mailbox/connect/microsoft/",
        views_microsoft.connect_microsoft_page,
        name="mailbox-connect-microsoft",
    ),
    path(
        "settings/mailbox/connect/microsoft/callback/",
        views_microsoft.microsoft_callback,
        name="mailbox-microsoft-callback",
    ),
    path(
        "settings/mailbox/connect/microsoft/finish/",
        views_microsoft.microsoft_finish,
        name="mailbox-microsoft-finish",
    ),
    path(
        "settings/mailbox/reconnect/microsoft/",
        views_microsoft.reconnect_microsoft,
        name="mailbox-reconnect-microsoft",
    ),
    path(
        "settings/mailbox/shared/connect/",
        views_microsoft.connect_shared_page,
        name="mailbox-connect-shared",
    ),
    path(
        "settings/mailbox/shared/<int:mailbox_id>/reconnect/",
        views_microsoft.reconnect_shared,
        name="mailbox-reconnect-shared",
    ),
    path("settings/mailbox/sync/", views_settings.mailbox_sync_now, name="mailbox-sync-now"),
    path(
        "settings/mailbox/reconnect/",
        views_settings.mailbox_reconnect_page,
        name="mailbox-reconnect",
    ),
    path(
        "settings/mailbox/disconnect/",
        views_settings.mailbox_disconnect_page,
        name="mailbox-disconnect",
    ),
]
