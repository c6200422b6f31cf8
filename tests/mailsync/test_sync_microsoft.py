"""Microsoft 365 over Graph, against the fake Microsoft identity platform and Graph
(tests/servers/microsoft*.py, graph.py): connecting by signing in, and the IMAP scenario list.

The product talks to the fakes through MSAL and its own Graph client, unchanged but for the base
URLs in settings. Alice's mailbox is alice@contoso.com (UPN alice@contoso.onmicrosoft.com, alias
a.archer@contoso.com); Bob's bob@contoso.com.
"""

from __future__ import annotations

import json
import random
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse

from mailsync import services
from mailsync.models import Mailbox, MailboxState, Message, Provider
from mailsync.providers import graph
from tests.factories import UserFactory, make_contact
from tests.mailsync.sync_helpers import email, run_sync, subjects
from tests.mailsync.test_sync_service import sync_killed_then_resumed
from tests.servers.microsoft import point_postcard_at
from tests.servers.microsoft_identity import form_fields


def ms_url(name: str, *args: object) -> str:
    """A sign-in page's URL for Microsoft 365 (mailsync/views_oauth.py)."""
    return reverse(name, args=["microsoft", *args])


pytestmark = [pytest.mark.server, pytest.mark.django_db]

ALICE = "alice@contoso.com"
ALICE_UPN = "alice@contoso.onmicrosoft.com"
JANE = "jane@customer.test"


@pytest.fixture
def m365(microsoft, settings):
    """The fakes, and Postcard's settings pointing at them (as an operator's would at Microsoft)."""
    point_postcard_at(
        microsoft,
        settings,
        "http://testserver" + ms_url("mailbox-oauth-callback"),
    )
    return microsoft


@pytest.fixture
def owner(client):
    user = UserFactory(username="alice", email=ALICE)
    client.force_login(user)
    return user


def sign_in(
    client,
    address: str = ALICE,
    *,
    as_user: str = ALICE_UPN,
    consent: str = "accept",
    since: str = "all",
    start: str = "connect",
):
    """Click through: Postcard's "Sign in with Microsoft", Microsoft's page, back to Postcard.
    Returns Postcard's answer to the callback (a redirect with a message)."""
    if start == "connect":
        started = client.post(
            ms_url("mailbox-connect-oauth"),
            {"address": address, "sync_since": since},
        )
    else:
        started = client.post(ms_url("mailbox-reconnect-oauth"))
    assert started.status_code == 302, started.content
    auth_uri = started["Location"]
    assert auth_uri.startswith("https://127.0.0.1:")
    assert requests.get(auth_uri, timeout=10).status_code == 200  # Microsoft's sign-in page
    answer = requests.post(
        auth_uri,
        data={"username": as_user, "password": "secret", "consent": consent},
        allow_redirects=False,
        timeout=10,
    )
    # form_post: Microsoft's page posts the answer to Postcard (without Postcard's cookies)
    assert answer.status_code == 200, answer.text
    fields = form_fields(answer.text)
    posted = Client().post(ms_url("mailbox-oauth-callback"), fields)
    assert posted.status_code == 302
    return client.get(posted["Location"])


def said(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


def connect(client) -> Mailbox:
    response = sign_in(client)
    assert response["Location"] == reverse("mailbox-settings"), said(response)
    return Mailbox.objects.get(address=ALICE)


def deliver(m365, n: int, folder: str = "inbox", **kwargs) -> str:
    return str(m365.tenant.deliver(ALICE, email(n, sender=JANE, to=ALICE, **kwargs), folder))


# --- connecting ----------------------------------------------------------------------------


def test_connecting_stores_the_sign_in_encrypted_and_imports(m365, client, owner):
    deliver(m365, 1)
    make_contact(emails=[JANE])

    response = sign_in(client)

    assert said(response) == ["Mailbox connected. The first import starts in a moment."]
    mailbox = Mailbox.objects.get(owner=owner)
    assert (mailbox.provider, mailbox.address, mailbox.state) == (
        Provider.MICROSOFT,
        ALICE,
        MailboxState.ACTIVE,
    )
    stored = Mailbox.objects.filter(pk=mailbox.pk).values_list("credentials", flat=True)[0]
    assert "RefreshToken" not in stored  # ciphertext only
    assert "RefreshToken" in mailbox.credentials  # MSAL's cache, decrypted for the sync
    page = client.get(reverse("mailbox-settings")).content.decode()
    assert "RefreshToken" not in page
    assert "secret" not in page

    outcome = services.mailbox_sync(mailbox_id=mailbox.pk)

    assert outcome.error == ""
    assert subjects(mailbox) == ["Message 1"]


def test_an_alias_is_refused_naming_the_main_address(m365, client, owner):
    response = sign_in(client, "a.archer@contoso.com")

    assert said(response) == [
        "a.archer@contoso.com is an alias of the Microsoft 365 mailbox alice@contoso.com: its "
        "mail arrives there. Connect alice@contoso.com, the mailbox's main address."
    ]
    assert not Mailbox.objects.exists()


def test_another_account_is_refused_naming_the_account_used(m365, client, owner):
    response = sign_in(client, ALICE, as_user="bob@contoso.onmicrosoft.com")

    assert "You signed in to Microsoft as bob@contoso.onmicrosoft.com" in said(response)[0]
    assert "whose mailbox is bob@contoso.com, not alice@contoso.com" in said(response)[0]
    assert not Mailbox.objects.exists()


def test_declining_consent_says_so_and_saves_nothing(m365, client, owner):
    response = sign_in(client, consent="cancel")

    assert said(response) == [
        "You declined to give Postcard access. To connect, sign in again and choose Accept."
    ]
    assert response["Location"].startswith(ms_url("mailbox-connect-oauth"))
    assert not Mailbox.objects.exists()


def test_admin_approval_required_says_what_to_ask_the_admin(m365, client, owner):
    m365.tenant.require_admin_approval()

    response = sign_in(client)

    assert said(response)[0].startswith("Your organisation lets only its administrator approve")
    assert not Mailbox.objects.exists()


def test_an_answer_without_a_sign_in_in_progress_is_refused(m365, client, owner):
    parked = Client().post(ms_url("mailbox-oauth-callback"), {"code": "x", "state": "y"})
    response = client.get(parked["Location"])

    assert said(response) == [
        "This sign-in had expired or was started in another browser tab. Start again from "
        "Connect Microsoft 365."
    ]
    assert not Mailbox.objects.exists()


def test_without_an_app_registration_the_page_says_so(client, owner, settings):
    settings.MICROSOFT_CLIENT_ID = ""
    page = client.get(ms_url("mailbox-connect-oauth"), {"address": ALICE})

    assert (
        "Microsoft 365 sign-in is not set up on this Postcard server yet." in page.content.decode()
    )


# --- the mirror ------------------------------------------------------------------------------


def test_first_import_mirrors_synced_folders_and_skips_deleted_junk_drafts(m365, client, owner):
    deliver(m365, 1)
    m365.tenant.deliver(ALICE, email(2, sender=ALICE, to=JANE), "sentitems")
    deliver(m365, 3, "archive")
    projects = m365.tenant.create_folder(ALICE, "Projects")
    deliver(m365, 4, projects.id if hasattr(projects, "id") else projects)
    for n, folder in enumerate(["deleteditems", "junkemail", "drafts"], start=5):
        deliver(m365, n, folder)
    mailbox = connect(client)

    counts, _ = run_sync(mailbox)

    assert counts.added == 4
    assert subjects(mailbox) == ["Message 1", "Message 2", "Message 3", "Message 4"]
    labels = set(mailbox.folders.values_list("label", flat=True))
    assert {"Inbox", "Sent Items", "Archive", "Projects"} <= labels
    assert not labels & {"Deleted Items", "Junk Email", "Drafts"}


def test_new_mail_deletion_and_moves_follow_without_downloading_again(m365, client, owner):
    first, second = deliver(m365, 1), deliver(m365, 2)
    mailbox = connect(client)
    run_sync(mailbox)

    m365.tenant.move(ALICE, first, "archive")  # between synced folders: kept, not downloaded
    m365.tenant.move(ALICE, second, "deleteditems")  # deleted in Outlook: leaves the CRM
    deliver(m365, 3)
    counts, provider = run_sync(mailbox)

    assert subjects(mailbox) == ["Message 1", "Message 3"]
    assert len(provider.downloaded) == 1  # only the new one
    assert (counts.added, counts.removed) == (1, 1)
    archived = Message.objects.get(subject="Message 1")
    assert [loc.folder.label for loc in archived.locations.all()] == ["Archive"]

    m365.tenant.delete(ALICE, deliver(m365, 4))  # arrived and gone between two syncs
    counts, provider = run_sync(mailbox)
    assert subjects(mailbox) == ["Message 1", "Message 3"]


def test_read_flags_and_other_updates_change_nothing(m365, client, owner):
    first = deliver(m365, 1)
    mailbox = connect(client)
    run_sync(mailbox)

    m365.tenant.set_read(ALICE, first)
    counts, provider = run_sync(mailbox)

    assert (counts.added, counts.removed, provider.downloaded) == (0, 0, [])


def test_how_far_back_applies_to_the_first_import(m365, client, owner):
    deliver(m365, 1)
    m365.tenant.deliver(
        ALICE,
        email(2, sender=JANE, to=ALICE, days_ago=200),
        received_at=datetime.now(UTC) - timedelta(days=200),
    )
    response = sign_in(client, since="90")
    assert response["Location"] == reverse("mailbox-settings")

    run_sync(Mailbox.objects.get())

    assert subjects(Mailbox.objects.get()) == ["Message 1"]


def test_new_mail_only_starts_from_now(m365, client, owner):
    deliver(m365, 1)
    sign_in(client, since="0")
    mailbox = Mailbox.objects.get()
    run_sync(mailbox)
    assert subjects(mailbox) == []

    deliver(m365, 2)
    run_sync(mailbox)
    assert subjects(mailbox) == ["Message 2"]


@pytest.mark.parametrize("mode", ["410", "syncStateNotFound"])
def test_an_expired_delta_relists_the_folder_without_duplicates_or_downloads(
    m365, client, owner, mode
):
    deliver(m365, 1)
    gone = deliver(m365, 2)
    mailbox = connect(client)
    run_sync(mailbox)

    m365.tenant.delete(ALICE, gone)
    deliver(m365, 3)
    m365.tenant.expire_delta(ALICE, "inbox", mode)
    _counts, provider = run_sync(mailbox)

    assert subjects(mailbox) == ["Message 1", "Message 3"]
    assert len(provider.downloaded) == 1
    assert Message.objects.count() == 2


def test_a_throttling_storm_is_waited_out_within_four_requests_at_once(m365, client, owner):
    for n in range(1, 31):
        deliver(m365, n)
    mailbox = connect(client)
    m365.tenant.throttle(ALICE, 6, retry_after="0.05")

    counts, _ = run_sync(mailbox)

    assert counts.added == 30
    assert m365.tenant.max_concurrency(ALICE) <= 4


def test_a_long_retry_after_pauses_the_mailbox_for_every_worker(m365, client, owner):
    deliver(m365, 1)
    mailbox = connect(client)
    m365.tenant.throttle(ALICE, 1, retry_after="120")

    outcome = services.mailbox_sync(mailbox_id=mailbox.pk)

    mailbox.refresh_from_db()
    assert "wait 120 s" in outcome.error
    assert mailbox.paused_until is not None
    assert mailbox.paused_until > datetime.now(UTC) + timedelta(seconds=100)
    assert services.mailbox_sync(mailbox_id=mailbox.pk).ran is False  # not before the pause ends


# --- token life ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("expired", "not renewed for a long time"),
        ("revoked", "the password was changed or sign-ins were revoked"),
        ("consent_withdrawn", "access to the mailbox was withdrawn"),
    ],
)
def test_a_refused_refresh_disconnects_once_and_reconnecting_keeps_the_mail(
    m365, client, owner, kind, reason
):
    deliver(m365, 1)
    mailbox = connect(client)
    assert services.mailbox_sync(mailbox_id=mailbox.pk).error == ""
    mail.outbox.clear()

    m365.tenant.fail_refresh(ALICE, kind)
    m365.tenant.expire_access_tokens(ALICE)
    services.mailbox_sync(mailbox_id=mailbox.pk)
    services.mailbox_sync(mailbox_id=mailbox.pk)  # still broken: no second email

    mailbox.refresh_from_db()
    assert mailbox.state == MailboxState.DISCONNECTED
    assert reason in mailbox.state_reason
    assert len(mail.outbox) == 1
    assert "Reconnect" in client.get(reverse("mailbox-settings")).content.decode()

    deliver(m365, 2)
    response = sign_in(client, start="reconnect")
    assert said(response) == ["Reconnected. Synchronization resumes where it stopped."]
    _counts, provider = run_sync(Mailbox.objects.get())
    assert subjects(mailbox) == ["Message 1", "Message 2"]
    assert len(provider.downloaded) == 1  # nothing imported again


# --- more of the scenario list -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["reset", "503"])
def test_an_unreachable_sign_in_service_says_so(m365, client, owner, mode):
    m365.tenant.set_unreachable(True, mode=mode)

    response = client.post(
        ms_url("mailbox-connect-oauth"),
        {"address": ALICE, "sync_since": "all"},
    )

    assert response.status_code == 302
    assert said(response) == [
        "Could not reach Microsoft's sign-in service. Check the server's internet connection "
        "and try again in a few minutes."
    ]
    assert not Mailbox.objects.exists()


def test_a_disabled_app_registration_is_named(m365, client, owner):
    m365.tenant.disable_tenant()

    response = sign_in(client)

    assert said(response) == [
        "Postcard's app registration is disabled in Microsoft Entra. Ask whoever runs Postcard "
        "to enable it."
    ]


def test_tokens_never_reach_the_logs(m365, client, owner, caplog):
    caplog.set_level("DEBUG")
    deliver(m365, 1)
    mailbox = connect(client)
    m365.tenant.expire_access_tokens(ALICE)  # the sync refreshes: new tokens pass by too
    services.mailbox_sync(mailbox_id=mailbox.pk)

    cache = json.loads(json.loads(Mailbox.objects.get().credentials)["token_cache"])
    secrets = [
        entry["secret"]
        for kind in ("AccessToken", "RefreshToken", "IdToken")
        for entry in cache.get(kind, {}).values()
    ]
    assert len(secrets) >= 3
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert not [s for s in secrets if s in logged]


def test_folders_renamed_and_deleted_in_outlook_are_followed(m365, client, owner):
    projects = m365.tenant.create_folder(ALICE, "Projects")
    old = m365.tenant.create_folder(ALICE, "Old stuff")
    deliver(m365, 1, projects)
    deliver(m365, 2, old)
    mailbox = connect(client)
    run_sync(mailbox)

    m365.tenant.rename_folder(ALICE, projects, "Customers")
    m365.tenant.delete_folder(ALICE, old)
    _counts, provider = run_sync(mailbox)

    assert subjects(mailbox) == ["Message 1"]
    assert provider.downloaded == []
    assert sorted(mailbox.folders.values_list("label", flat=True)) == [
        "Archive",
        "Customers",
        "Inbox",
        "Sent Items",
    ]


def test_reconciliation_repairs_drift_both_ways(m365, client, owner):
    kept, lost = deliver(m365, 1), deliver(m365, 2)
    mailbox = connect(client)
    run_sync(mailbox)
    Message.objects.filter(subject="Message 1").delete()  # the CRM lost one...
    m365.tenant.delete(ALICE, lost)  # ...and missed a deletion (its delta link went stale)

    counts, provider = run_sync(mailbox, reconcile=True)

    assert subjects(mailbox) == ["Message 1"]
    assert provider.downloaded == [kept]
    assert (counts.added, counts.removed) == (1, 1)


@pytest.mark.django_db(transaction=True)
def test_sync_killed_at_a_random_point_resumes_with_exactly_the_right_messages(m365, client, owner):
    if connection.vendor != "postgresql":
        pytest.skip("the killed sync runs in another process: needs a shared PostgreSQL database")
    total = 600
    for n in range(total):
        deliver(m365, n)
    mailbox = connect(client)

    outcome = sync_killed_then_resumed(
        mailbox,
        ALICE,
        total,
        (
            "MICROSOFT_CLIENT_ID",
            "MICROSOFT_CLIENT_SECRET",
            "MICROSOFT_LOGIN_URL",
            "MICROSOFT_TENANT",
            "MICROSOFT_GRAPH_URL",
            "MICROSOFT_REDIRECT_URI",
        ),
    )

    assert outcome.ran
    assert outcome.error == ""
    ids = list(Message.objects.values_list("message_id", flat=True))
    assert len(ids) == len(set(ids)) == total
    assert set(ids) == {f"msg-{n}@customer.test" for n in range(total)}


# --- a shared mailbox, synced through a sync-only user ---------------------------------------


def connect_shared(client, address: str, *, as_user: str = ALICE_UPN):
    started = client.post(
        ms_url("mailbox-connect-shared"),
        {"address": address, "sync_since": "all"},
    )
    assert started.status_code == 302, started.content
    answer = requests.post(
        started["Location"],
        data={"username": as_user, "password": "secret", "consent": "accept"},
        allow_redirects=False,
        timeout=10,
    )
    posted = Client().post(ms_url("mailbox-oauth-callback"), form_fields(answer.text))
    return client.get(posted["Location"])


def test_a_shared_mailbox_is_read_with_the_users_own_access(m365, client, owner):
    sales = m365.tenant.add_user("sales@contoso.onmicrosoft.com", mail="sales@contoso.com")
    m365.tenant.deliver(sales, email(7, sender=JANE, to="sales@contoso.com"))
    refused = connect_shared(client, "sales@contoso.com")
    assert "does not let alice@contoso.onmicrosoft.com read sales@contoso.com" in said(refused)[0]

    m365.tenant.grant_mailbox_access(sales, ALICE)
    response = connect_shared(client, "sales@contoso.com")

    assert said(response)[-1] == "sales@contoso.com connected. Its first import starts in a moment."
    shared = Mailbox.objects.get(address="sales@contoso.com")
    assert shared.owner.is_sync_only
    assert shared.owner.parent == owner  # under the user it serves
    assert services.mailbox_sync(mailbox_id=shared.pk).error == ""
    assert subjects(shared) == ["Message 7"]
    page = client.get(reverse("mailbox-settings")).content.decode()
    assert "sales@contoso.com" in page


# --- a day of changes, then the CRM compared with the mailbox --------------------------------

NOT_MIRRORED = ("deleteditems", "junkemail", "drafts", "outbox", "conversationhistory")


def mirrored_now(m365) -> dict[str, set[str]]:
    """What the CRM must hold by the mailbox itself: folder id -> Message-IDs, for every folder
    outside Deleted Items, Junk Email, Drafts, Outbox and Conversation History (and their
    subfolders)."""
    tenant = m365.tenant
    box = tenant.mailbox(ALICE)
    skipped = {tenant.folder(ALICE, name).id for name in NOT_MIRRORED}
    root = tenant.folder(ALICE, "msgfolderroot").id

    def mirrored(folder_id: str) -> bool:
        while folder_id != root:
            if folder_id in skipped or folder_id not in box.folders:
                return False
            folder_id = box.folders[folder_id].parent_id
        return True

    held: dict[str, set[str]] = {f: set() for f in box.folders if mirrored(f) and f != root}
    for message in tenant.messages(ALICE):
        if message.folder_id in held:
            held[message.folder_id].add(message.internet_message_id.strip("<>"))
    return held


def mirrored_in_crm(mailbox: Mailbox) -> dict[str, set[str]]:
    held: dict[str, set[str]] = {f.name: set() for f in mailbox.folders.all()}
    for folder, message_id in Message.objects.filter(mailbox=mailbox).values_list(
        "locations__folder__name", "message_id"
    ):
        held[folder].add(message_id.strip("<>"))
    return held


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_day_of_changes_leaves_the_crm_equal_to_the_mailbox(m365, client, owner, seed):
    rng = random.Random(seed)
    tenant = m365.tenant
    folders = ["inbox", "sentitems", "archive", *NOT_MIRRORED[:3]]
    folders.append(tenant.create_folder(ALICE, "Projects"))
    folders.append(tenant.create_folder(ALICE, "Acme", folders[-1]))  # a subfolder
    counter = iter(range(10_000))
    for _ in range(20):
        deliver(m365, next(counter), rng.choice(folders))
    mailbox = connect(client)
    run_sync(mailbox)

    for _ in range(12):  # a day: bursts of changes, each followed by the minute's sync
        for _ in range(rng.randint(1, 8)):
            held = [m.immutable_id for m in tenant.messages(ALICE)]
            action = rng.choice(["deliver", "deliver", "move", "move", "delete", "read"])
            if action == "deliver" or not held:
                deliver(m365, next(counter), rng.choice(folders))
            elif action == "move":
                tenant.move(ALICE, rng.choice(held), rng.choice(folders))
            elif action == "delete":
                tenant.delete(ALICE, rng.choice(held))
            else:
                tenant.set_read(ALICE, rng.choice(held))
        if rng.random() < 0.2:
            tenant.expire_delta(
                ALICE, rng.choice(folders[:3]), rng.choice(["410", "syncStateNotFound"])
            )
        if rng.random() < 0.2:
            tenant.throttle(ALICE, rng.randint(1, 3), retry_after="0.01")
        _counts, _ = run_sync(mailbox)

    assert mirrored_in_crm(mailbox) == mirrored_now(m365)
    ids = list(Message.objects.filter(mailbox=mailbox).values_list("message_id", flat=True))
    assert len(ids) == len(set(ids))  # each email once, whatever it went through


def test_a_quiet_mailbox_of_30_folders_costs_two_round_trips(m365, client, owner, monkeypatch):
    """Graph counts requests against the mailbox's budget (10,000 per 10 minutes): a sync that
    finds nothing asks about 20 folders at a time, the folder list riding with the first ones,
    in a worker that synced the mailbox before and in a fresh one alike."""
    for n in range(27):
        deliver(m365, n, m365.tenant.create_folder(ALICE, f"Project {n:02}"))
    mailbox = connect(client)
    run_sync(mailbox)
    assert mailbox.folders.count() == 30

    for worker in ("the same worker", "a fresh worker"):
        if worker == "a fresh worker":  # nothing remembered in the process
            monkeypatch.setattr(graph, "_well_known_ids", OrderedDict())
        m365.tenant.reset_counts()
        counts, _ = run_sync(mailbox)

        assert (counts.added, counts.removed) == (0, 0)
        assert m365.tenant.requests_count(ALICE) == 2, worker


def test_syncs_do_not_ask_microsofts_discovery_endpoint_each_time(m365, client, owner):
    mailbox = connect(client)

    def discovery_requests() -> int:
        requests_ = m365.tenant.identity_requests
        return sum("openid-configuration" in r.path for r in requests_)

    services.mailbox_sync(mailbox_id=mailbox.pk)
    asked = discovery_requests()
    for _ in range(3):
        services.mailbox_sync(mailbox_id=mailbox.pk)

    assert discovery_requests() == asked


@pytest.mark.parametrize(
    ("method", "name", "data"),
    [
        ("get", "mailbox-oauth-callback", {}),
        ("post", "mailbox-oauth-callback", {"state": "x" * 5000, "code": "\x00"}),
        ("get", "mailbox-oauth-finish", {}),
        ("get", "mailbox-oauth-finish", {"state": "never-issued"}),
        ("get", "mailbox-connect-oauth", {"address": "not an address"}),
        ("post", "mailbox-connect-oauth", {"address": ALICE, "sync_since": "forever"}),
        ("post", "mailbox-connect-shared", {"address": "@@", "sync_since": "90"}),
    ],
)
def test_bad_input_to_the_sign_in_pages_is_a_page_not_an_error(
    m365, client, owner, method, name, data
):
    response = getattr(client, method)(ms_url(name), data)

    assert response.status_code in (200, 302)
    assert not Mailbox.objects.exists()


def test_a_colleagues_shared_mailbox_cannot_be_reconnected_by_id(m365, client, owner):
    colleague = UserFactory()
    holder = UserFactory(parent=colleague, is_sync_only=True)
    theirs = Mailbox.objects.create(owner=holder, address="team@contoso.com", provider="microsoft")

    response = client.post(ms_url("mailbox-reconnect-shared", theirs.pk))

    assert said(response) == ["No such shared mailbox of yours."]
    assert "oauth_sign_in" not in client.session
