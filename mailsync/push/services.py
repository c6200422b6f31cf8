"""Push for every provider at once: which mailboxes, and keeping each one's push alive."""

from __future__ import annotations

from mailsync.models import Mailbox, MailboxState, Provider
from mailsync.push.gmail_push import gmail_watch_renew
from mailsync.push.graph_webhooks import graph_subscriptions_sync


def push_mailboxes() -> list[int]:
    """Active Microsoft 365 and Google mailboxes (IMAP ones have the listener)."""
    active = (
        Mailbox.objects.filter(provider__in=[Provider.MICROSOFT, Provider.GOOGLE], is_demo=False)
        .exclude(state=MailboxState.DISCONNECTED)
        .exclude(credentials="")
    )
    return list(active.values_list("pk", flat=True))


def push_ensure(*, mailbox_id: int) -> None:
    """Subscriptions made or renewed as due (network calls: never inside a transaction)."""
    mailbox = Mailbox.objects.filter(pk=mailbox_id).first()
    if mailbox is None:
        return
    if mailbox.provider == Provider.MICROSOFT:
        graph_subscriptions_sync(mailbox=mailbox)
    elif mailbox.provider == Provider.GOOGLE:
        gmail_watch_renew(mailbox=mailbox)


def push_sentence(mailbox: Mailbox) -> str:
    """How soon new mail reaches the cards, for the settings page."""
    from mailsync.models import MailboxWatch, PushSubscription
    from mailsync.push.gmail_push import gmail_push_configured
    from mailsync.push.graph_webhooks import push_base_url

    if mailbox.provider == Provider.IMAP:
        watch = MailboxWatch.objects.filter(mailbox=mailbox).first()
        if watch is not None and watch.connected:
            return "New mail reaches the cards within seconds (the server announces it: IDLE)."
        return (
            "New mail is looked for every minute (the listener is not watching this mailbox "
            "right now)."
        )
    configured = bool(push_base_url()) and (
        mailbox.provider != Provider.GOOGLE or gmail_push_configured()
    )
    if not configured:
        return (
            "New mail is looked for every minute: this Postcard server has no public address "
            f"{mailbox.get_provider_display()} could announce changes to (PUSH_BASE_URL)."
        )
    if PushSubscription.objects.filter(mailbox=mailbox).exists():
        return (
            f"New mail reaches the cards within seconds ({mailbox.get_provider_display()} "
            "announces it)."
        )
    return "New mail is looked for every minute until announcements are set up (within an hour)."
