"""The mirror of each user's mailbox.

A `Message` is one email as held in one mailbox (the same email in two colleagues' mailboxes is
two rows; cards show it once). It may sit in several folders of that mailbox (`MessageLocation`),
so a move between synced folders or Gmail's "All Mail" never duplicates it; the message goes away
with its last location. `Participant` rows link a message to contacts by canonical address, so a
contact created later, or an address added or removed, changes the cards at once, with no relinking.
"""

from django.conf import settings
from django.db import models

from crm.core.fields import EncryptedTextField


class Provider(models.TextChoices):
    IMAP = "imap", "IMAP"
    MICROSOFT = "microsoft", "Microsoft 365"
    GOOGLE = "google", "Google"
    EXCHANGE = "exchange", "Exchange (on-premises)"


class MailboxState(models.TextChoices):
    ACTIVE = "active", "Active"
    SYNCING = "syncing", "Syncing"
    DISCONNECTED = "disconnected", "Disconnected"


class Mailbox(models.Model):
    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mailbox"
    )
    address = models.CharField(max_length=320, unique=True)  # canonical form
    provider = models.CharField(max_length=20, choices=Provider.choices)
    state = models.CharField(
        max_length=20, choices=MailboxState.choices, default=MailboxState.ACTIVE
    )
    state_reason = models.CharField(max_length=500, blank=True)
    # Provider settings (hosts, ports, security) and secrets (password, token cache), encrypted.
    connection_settings = models.JSONField(default=dict, blank=True)
    credentials = EncryptedTextField(blank=True)
    # How far back the first import reaches: None everything, 0 nothing (new mail only).
    sync_since_days = models.PositiveIntegerField(null=True, blank=True, default=90)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    next_sync_at = models.DateTimeField(null=True, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    # Temporary failures in a row, for exponential backoff; 0 after a good sync.
    failures = models.PositiveIntegerField(default=0)
    # The provider asked to wait (HTTP 429/503 Retry-After) until then: every worker holds off.
    paused_until = models.DateTimeField(null=True, blank=True)
    # One sync at a time: a worker claims the mailbox with a conditional UPDATE; the lease
    # expires on its own if that worker dies.
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    # A location was removed and the messages it pointed to are not yet checked for orphans:
    # set in the removal's transaction, so a sync that fails before its sweep leaves it set.
    orphans_pending = models.BooleanField(default=False)
    # Made by the demo data (seed_demo): no server behind it, never synchronized.
    is_demo = models.BooleanField(default=False)
    # The provider reported a change not yet covered by a sync (mailsync/push/wakeups.py).
    wake_pending = models.BooleanField(default=False)
    woken_at = models.DateTimeField(null=True, blank=True)  # the last such report
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "mailboxes"

    def __str__(self) -> str:
        return self.address

    @property
    def has_credentials(self) -> bool:
        """A password or token is stored (checked without decrypting it)."""
        field = self._meta.get_field("credentials")
        assert isinstance(field, EncryptedTextField)
        return field.is_set(self)


class FolderRole(models.TextChoices):
    INBOX = "inbox", "Inbox"
    SENT = "sent", "Sent"
    ARCHIVE = "archive", "Archive"
    ALL = "all", "All mail"
    OTHER = "other", "Other"


class Folder(models.Model):
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="folders")
    name = models.CharField(max_length=500)  # the provider's key: IMAP path, Graph folder id
    label = models.CharField(max_length=500, blank=True)  # as people call it, when not `name`
    role = models.CharField(max_length=10, choices=FolderRole.choices, default=FolderRole.OTHER)
    # Where the sync stands in the folder, as the provider wrote it ("" before the first sync):
    # opaque to the engine (mailsync/providers/base.py).
    cursor = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "name"], name="folder_unique_name")
        ]

    def __str__(self) -> str:
        return self.label or self.name


class Direction(models.TextChoices):
    INCOMING = "in", "Received"
    OUTGOING = "out", "Sent"


class Message(models.Model):
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="messages")
    # sha256 of the Message-ID (or of the content when it has none): one row per email per
    # mailbox, and the key that shows a message held in several mailboxes once.
    dedupe_key = models.CharField(max_length=64)
    message_id = models.CharField(max_length=998, blank=True)
    thread_key = models.CharField(max_length=64, db_index=True)
    subject = models.TextField(blank=True)
    sent_at = models.DateTimeField()
    received_at = models.DateTimeField(null=True, blank=True)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    body_text = models.TextField(blank=True)
    body_truncated = models.BooleanField(default=False)
    # When the body was cut at the size limit: the size in bytes of the body as sent.
    body_truncated_from = models.PositiveIntegerField(null=True, blank=True)
    attachment_names = models.JSONField(default=list, blank=True)
    # Only company users take part: never shown on cards.
    is_internal = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "dedupe_key"], name="message_unique_per_mailbox"
            )
        ]
        indexes = [
            models.Index(fields=["mailbox", "-sent_at"]),
            models.Index(fields=["dedupe_key"]),
        ]

    def __str__(self) -> str:
        return self.subject or "(no subject)"


class MessageLocation(models.Model):
    """Where a message sits in its mailbox: a folder and the provider's id for it there."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="locations")
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="locations")
    remote_id = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["folder", "remote_id"], name="location_unique_remote_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.folder_id}/{self.remote_id}"


class ParticipantRole(models.TextChoices):
    FROM = "from", "From"
    TO = "to", "To"
    CC = "cc", "Cc"
    BCC = "bcc", "Bcc"
    REPLY_TO = "reply_to", "Reply-To"


class Participant(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="participants")
    role = models.CharField(max_length=8, choices=ParticipantRole.choices)
    address = models.CharField(max_length=320)  # canonical form, as ContactEmail.address
    name = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [models.Index(fields=["address", "message"])]

    def __str__(self) -> str:
        return f"{self.role}: {self.address}"


# What each CardLink index is for (README, "Card indexes"). The INCLUDE columns make the reads
# index-only on PostgreSQL (other databases build the same index without them).
_NEWEST_FIRST = ["-sent_at", "-message"]
_CARRIED = ["thread_key", "dedupe_key"]
CARD_LINK_INDEXES = [
    # A contact card's page: one range per visible mailbox, newest first, stopping after a page.
    models.Index(
        fields=["contact", "owner", *_NEWEST_FIRST], include=_CARRIED, name="card_link_contact"
    ),
    # The same for an account card.
    models.Index(
        fields=["account", "owner", *_NEWEST_FIRST],
        include=_CARRIED,
        condition=models.Q(account__isnull=False),
        name="card_link_account",
    ),
    # "Was this conversation (or email) already shown higher up?": a probe per row of a page,
    # and the emails of the conversations on it.
    models.Index(
        fields=["contact", "thread_key", *_NEWEST_FIRST],
        include=["owner", "dedupe_key"],
        name="card_link_contact_thread",
    ),
    models.Index(
        fields=["account", "thread_key", *_NEWEST_FIRST],
        include=["owner", "dedupe_key"],
        condition=models.Q(account__isnull=False),
        name="card_link_account_thread",
    ),
    # The home page's "recent email from contacts": per visible mailbox, newest first.
    models.Index(
        fields=["owner", *_NEWEST_FIRST],
        include=["dedupe_key"],
        condition=models.Q(contact_sent=True),
        name="card_link_from_contact",
    ),
]


class CardLink(models.Model):
    """A message on a contact's card, and on the card of that contact's account.

    A denormalized index, not a source of truth: one row per (contact, message) where one of the
    contact's addresses is a participant, never for internal-only mail. It carries what a card
    page sorts and groups by (owner, date, thread, dedupe key), so a page is a few short index
    ranges (one per visible mailbox) instead of grouping the contact's whole history.
    `mailsync/card_links.py` keeps it: the storage adds rows for new mail, the contact services
    (and admin) refresh a contact whose addresses or account change; deletes cascade.
    """

    # No single-column indexes on contact and account: the indexes below start with them.
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # The contact's account, copied: the account card reads its own index range.
    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="card_links")
    # The mailbox owner, as visibility names mailboxes.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    sent_at = models.DateTimeField()
    thread_key = models.CharField(max_length=64)
    dedupe_key = models.CharField(max_length=64)
    # The contact is the sender (From): the home page lists such mail.
    contact_sent = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "message"], name="card_link_unique")
        ]
        indexes = CARD_LINK_INDEXES

    def __str__(self) -> str:
        return f"contact {self.contact_id}: message {self.message_id}"


class SyncRun(models.Model):
    """One sync of a mailbox, for the sync log on the settings page."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="sync_runs")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    added = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"sync of mailbox {self.mailbox_id} at {self.started_at:%Y-%m-%d %H:%M}"


class BodyAccess(models.Model):
    """Audit: a user opened the body of a message from a colleague's mailbox."""

    viewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="body_accesses"
    )
    # Kept after the mirror deletes the message: the audit outlives the mail.
    message = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, blank=True)
    mailbox_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    message_id_header = models.CharField("Message-ID", max_length=998, blank=True)
    opened_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-opened_at"]
        verbose_name = "opened colleague message"

    def __str__(self) -> str:
        return f"{self.viewer_id} opened {self.message_id_header or self.message_id}"


class SkippedMessage(models.Model):
    """A remote message that is not stored (not an email), remembered so it is not fetched again."""

    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="skipped")
    remote_id = models.CharField(max_length=255)
    reason = models.CharField(max_length=500)
    seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["folder", "remote_id"], name="skipped_unique_remote_id")
        ]

    def __str__(self) -> str:
        return f"{self.remote_id}: {self.reason}"


# --- sending (mailsync/sending/) ----------------------------------------------------------


class SenderSettings(models.Model):
    """How one user's email leaves: the name shown, the signature, how replies quote."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sender_settings"
    )
    display_name = models.CharField(max_length=200, blank=True)
    signature = models.TextField(max_length=2000, blank=True)
    # Replies carry the earlier messages below the new text ("> " quoted), or only the new text.
    quote_history = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"sending settings of {self.user_id}"


class CompanyAddress(models.Model):
    """An address of the company (sales@, support@) that permitted users may send from: through
    a shared mailbox connected by a sync-only user, or else through the CRM's own mailer."""

    address = models.CharField(max_length=320, unique=True)  # canonical form
    display_name = models.CharField(max_length=200, blank=True)
    mailbox = models.OneToOneField(
        Mailbox,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="company_address",
        help_text="The shared mailbox the mail leaves through and is filed in; "
        "empty: the CRM's own mailer.",
    )
    senders = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="company_addresses",
        help_text="Who may send from this address.",
    )

    class Meta:
        verbose_name_plural = "company addresses"

    def __str__(self) -> str:
        return self.address


class MessageTemplate(models.Model):
    """A reusable email with placeholders ({contact.first_name}, {account.name}, ...)."""

    # None: a company template, kept in admin and offered to everyone.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="message_templates",
    )
    name = models.CharField(max_length=200)
    subject = models.CharField(max_length=500, blank=True)
    body = models.TextField(max_length=20_000)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class OutgoingState(models.TextChoices):
    DRAFT = "draft", "Draft"
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    HELD = "held", "Not sent"  # needs the user: reconnect, or send from the CRM's mailer
    CANCELLED = "cancelled", "Cancelled"


class SendRoute(models.TextChoices):
    MAILBOX = "mailbox", "Your mailbox"
    COMPANY = "company", "Company address"
    CRM_MAILER = "crm", "The CRM's mailer"


class OutgoingMessage(models.Model):
    """One email written in the CRM, from draft to sent: the outbox.

    The Message-ID is fixed when the message is queued and the MIME built once (`raw`), so every
    attempt sends the same bytes, the sync recognises the Sent copy as this message, and a worker
    killed after the provider accepted it checks for that id before sending again
    (mailsync/sending/outbox.py).
    """

    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="outgoing_messages"
    )
    state = models.CharField(
        max_length=10, choices=OutgoingState.choices, default=OutgoingState.DRAFT
    )
    route = models.CharField(max_length=10, choices=SendRoute.choices, default=SendRoute.MAILBOX)
    # The mailbox it leaves through (the sender's own, or a company address's shared mailbox).
    mailbox = models.ForeignKey(
        Mailbox, on_delete=models.SET_NULL, null=True, blank=True, related_name="outgoing"
    )
    company_address = models.ForeignKey(
        CompanyAddress, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    from_address = models.CharField(max_length=320)
    from_name = models.CharField(max_length=200, blank=True)
    # [[name, address], ...], addresses in canonical form.
    to = models.JSONField(default=list, blank=True)
    cc = models.JSONField(default=list, blank=True)
    bcc = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    body_text = models.TextField(blank=True)
    markdown = models.BooleanField(default=False)  # the body is Markdown: text + HTML sent
    # What it answers or forwards (kept when the synced original goes).
    replied_message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reply_kind = models.CharField(max_length=10, blank=True)  # reply, reply_all, forward
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.TextField(blank=True)
    provider_thread_id = models.CharField(max_length=255, blank=True)  # Gmail's threadId
    # The cards it is shown on before (or without) a synced copy.
    contacts = models.ManyToManyField("contacts.Contact", blank=True, related_name="+")
    message_id = models.CharField(max_length=998, blank=True)  # fixed when queued
    raw = models.BinaryField(blank=True, default=b"")  # the MIME, built once when queued
    attachment_names = models.JSONField(default=list, blank=True)
    batch = models.CharField(max_length=32, blank=True)  # one bulk send: same key
    not_before = models.DateTimeField(null=True, blank=True)  # the provider's pace
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=1000, blank=True)
    # One worker at a time: claimed with a conditional UPDATE, the claim expiring on its own.
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    # Set (and committed) just before the bytes go to the provider: a claim that expired after
    # this may have been accepted, and is checked for before any new attempt.
    handed_over_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    # The synchronized copy on the cards, stored at once when it left through a mailbox.
    stored_message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="outgoing"
    )
    note = models.CharField(max_length=500, blank=True)  # what the user should know
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["state", "not_before"]),
            models.Index(fields=["sender", "-created_at"]),
        ]

    def __str__(self) -> str:
        return self.subject or "(no subject)"

    def recipients(self) -> list[str]:
        return [address for _, address in [*self.to, *self.cc, *self.bcc]]


class MailboxWatch(models.Model):
    """A listener process watching a mailbox for changes (IMAP IDLE): its health, for
    `manage.py mailbox_status` and the admin."""

    mailbox = models.OneToOneField(Mailbox, on_delete=models.CASCADE, related_name="watch")
    listener = models.CharField(max_length=200)  # host:pid and shard of the process
    connected = models.BooleanField(default=False)
    since = models.DateTimeField()  # watched since
    seen_at = models.DateTimeField()  # the listener's last heartbeat for it
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"{self.mailbox_id} watched by {self.listener}"


class PushKind(models.TextChoices):
    GRAPH = "graph", "Graph change notifications"
    GMAIL = "gmail", "Gmail watch (Pub/Sub)"


class PushSubscription(models.Model):
    """A provider's promise to tell Postcard when a mailbox (or one of its folders) changes:
    a Graph subscription on a folder's messages, or a Gmail watch (mailsync/push/)."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="push")
    kind = models.CharField(max_length=10, choices=PushKind.choices)
    folder = models.CharField(max_length=500, blank=True)  # Graph: the folder's id
    remote_id = models.CharField(max_length=255, blank=True)  # Graph's subscription id
    # The secret Graph echoes in every notification (clientState): checked, never logged.
    client_state = EncryptedTextField(blank=True)
    expires_at = models.DateTimeField()
    renewed_at = models.DateTimeField(auto_now=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "kind", "folder"], name="push_unique")
        ]
        indexes = [models.Index(fields=["remote_id"])]

    def __str__(self) -> str:
        return f"{self.kind} for {self.mailbox_id} {self.folder}"
