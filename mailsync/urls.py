from django.urls import path

from mailsync import views, views_oauth, views_settings
from mailsync.push import views as push
from mailsync.sending import views as sending

urlpatterns = [
    # What Microsoft and Google post to (mailsync/push/): no login, each request proves itself.
    path("hooks/graph/", push.graph_notification, name="hook-graph"),
    path("hooks/graph/lifecycle/", push.graph_lifecycle, name="hook-graph-lifecycle"),
    path("hooks/gmail/", push.gmail_push, name="hook-gmail"),
    # Writing email (mailsync/sending/).
    path("emails/compose/", sending.compose_page, name="compose"),
    path("emails/outbox/", sending.outbox_page, name="outbox"),
    path(
        "emails/outbox/<int:outgoing_id>/<str:action>/",
        sending.outbox_action,
        name="outbox-action",
    ),
    path("settings/sending/", sending.sending_settings_page, name="sending-settings"),
    path("settings/sending/templates/new/", sending.template_edit_page, name="template-create"),
    path(
        "settings/sending/templates/<int:template_id>/",
        sending.template_edit_page,
        name="template-edit",
    ),
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
    # Providers one signs in to (mailsync/oauth.py), after "imap" and "provider" above.
    path(
        "settings/mailbox/connect/<str:provider>/",
        views_oauth.connect_page,
        name="mailbox-connect-oauth",
    ),
    path(
        "settings/mailbox/connect/<str:provider>/callback/",
        views_oauth.callback,
        name="mailbox-oauth-callback",
    ),
    path(
        "settings/mailbox/connect/<str:provider>/finish/",
        views_oauth.finish,
        name="mailbox-oauth-finish",
    ),
    path(
        "settings/mailbox/reconnect/<str:provider>/",
        views_oauth.reconnect,
        name="mailbox-reconnect-oauth",
    ),
    path(
        "settings/calendar/sign-in/<str:provider>/",
        views_oauth.calendar_sign_in,
        name="calendar-sign-in",
    ),
    path(
        "settings/mailbox/allow-sending/<str:provider>/",
        views_oauth.sending_sign_in,
        name="mailbox-allow-sending",
    ),
    path(
        "settings/mailbox/shared/<str:provider>/connect/",
        views_oauth.connect_shared_page,
        name="mailbox-connect-shared",
    ),
    path(
        "settings/mailbox/shared/<str:provider>/<int:mailbox_id>/reconnect/",
        views_oauth.reconnect_shared,
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
