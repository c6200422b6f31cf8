"""Google Workspace and Gmail over the Gmail API, against the fake Google sign-in service and
Gmail (tests/servers/google*.py, gmail*.py): connecting by signing in, and the scenario list run
for IMAP and Microsoft 365.

The product talks to the fakes through google-auth-oauthlib, google-auth and
google-api-python-client (built from the discovery document it ships), unchanged but for the
base URLs in settings. Alice's mailbox is alice@acme.test (Workspace, send-as alias
sales@acme.test); Bob's bob@gmail.com; Carol's organisation (blocked.test) blocks the app.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core import mail
from django.db import connection
from django.urls import reverse

from mailsync import services
from mailsync.models import Mailbox, MailboxState, Message, Provider
from mailsync.providers import gmail
from tests.factories import UserFactory, make_contact
from tests.mailsync.sync_helpers import email, run_sync, subjects
from tests.mailsync.test_sync_service import sync_killed_then_resumed
from tests.servers.google import point_postcard_at
from tests.servers.google_identity import form_fields
from tests.servers.test_google_fake import served_problems

pytestmark = [pytest.mark.server, pytest.mark.django_db]

ALICE = "alice@acme.test"
BOB = "bob@gmail.com"
JANE = "jane@customer.test"


def g_url(name: str, *args: object) -> str:
    """A sign-in page's URL for Google (mailsync/views_oauth.py)."""
    return reverse(name, args=["google", *args])


@pytest.fixture
def gcloud(google, settings):
    """The fakes, and Postcard's settings pointing at them (as an operator's would at Google).
    Afterwards, every call Postcard made and every JSON answer it got is checked against the
    Gmail discovery document: the fake stayed honest under the product's own traffic."""
    point_postcard_at(google, settings, "http://testserver" + g_url("mailbox-oauth-callback"))
    yield google
    with google.accounts.lock:
        served = list(google.accounts.served)
    problems = [f"{r.method_id}: {p}" for r in served for p in served_problems(r)]
    assert not problems, "\n".join(problems)


@pytest.fixture
def owner(client):
    user = UserFactory(username="alice", email=ALICE, first_name="Alice", last_name="Archer")
    client.force_login(user)
    return user


def google_answer(auth_uri: str, *, as_user: str, button: str = "allow", decline: str = "") -> str:
    """Google's sign-in and consent page, filled in (`decline`: permissions unticked): the
    redirect back to Postcard."""
    page = requests.get(auth_uri, timeout=10)
    assert page.status_code == 200, page.text
    fields = {
        **form_fields(page.text),
        "email": as_user,
        "password": "secret",
        "action": button,
        "decline": decline,
    }
    answer = requests.post(page.url, data=fields, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def sign_in(
    client,
    address: str = ALICE,
    *,
    as_user: str | None = None,
    button: str = "allow",
    since: str = "all",
    start: str = "connect",
):
    """Click through: Postcard's "Sign in with Google", Google's page, back to Postcard.
    Returns Postcard's answer to the callback (a redirect with a message)."""
    if start == "connect":
        started = client.post(
            g_url("mailbox-connect-oauth"), {"address": address, "sync_since": since}
        )
    elif start == "shared":
        started = client.post(
            g_url("mailbox-connect-shared"), {"address": address, "sync_since": since}
        )
    else:
        started = client.post(g_url("mailbox-reconnect-oauth"))
    assert started.status_code == 302, started.content
    assert started["Location"].startswith("https://127.0.0.1:")
    back = google_answer(started["Location"], as_user=as_user or address, button=button)
    callback = urlsplit(back)
    assert callback.path == g_url("mailbox-oauth-callback")
    parked = client.get(callback.path, {k: v[0] for k, v in parse_qs(callback.query).items()})
    assert parked.status_code == 302
    return client.get(parked["Location"])


def said(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


def connect(client, **kwargs) -> Mailbox:
    response = sign_in(client, **kwargs)
    assert response["Location"] == reverse("mailbox-settings"), said(response)
    return Mailbox.objects.get(address=ALICE)


def deliver(gcloud, n: int, labels=("INBOX",), **kwargs) -> str:
    raw = email(n, sender=JANE, to=ALICE, **kwargs)
    return str(gcloud.accounts.deliver(ALICE, raw, labels=labels))


# --- connecting ----------------------------------------------------------------------------


def test_connecting_stores_the_grant_encrypted_and_imports(gcloud, client, owner):
    deliver(gcloud, 1)
    make_contact(emails=[JANE])

    response = sign_in(client)

    assert said(response) == ["Mailbox connected. The first import starts in a moment."]
    mailbox = Mailbox.objects.get(owner=owner)
    assert (mailbox.provider, mailbox.address, mailbox.state) == (
        Provider.GOOGLE,
        ALICE,
        MailboxState.ACTIVE,
    )
    refresh_token = json.loads(json.loads(mailbox.credentials)["token_cache"])["refresh_token"]
    stored = Mailbox.objects.filter(pk=mailbox.pk).values_list("credentials", flat=True)[0]
    assert refresh_token not in stored  # ciphertext only
    page = client.get(reverse("mailbox-settings")).content.decode()
    assert refresh_token not in page

    outcome = services.mailbox_sync(mailbox_id=mailbox.pk)

    assert outcome.error == ""
    assert subjects(mailbox) == ["Message 1"]


def test_the_sign_in_asks_offline_read_only_access_with_pkce(gcloud, client, owner):
    started = client.post(g_url("mailbox-connect-oauth"), {"address": ALICE, "sync_since": "90"})

    asked = parse_qs(urlsplit(started["Location"]).query)
    assert asked["scope"] == ["https://www.googleapis.com/auth/gmail.readonly"]
    assert asked["access_type"] == ["offline"]
    assert asked["include_granted_scopes"] == ["true"]
    assert asked["code_challenge_method"] == ["S256"]
    assert asked["login_hint"] == [ALICE]
    assert asked["state"][0]
    assert "code_verifier" not in started["Location"]


def test_a_send_as_alias_is_refused_naming_the_account_used(gcloud, client, owner):
    response = sign_in(client, "sales@acme.test", as_user=ALICE)

    assert said(response) == [
        "sales@acme.test is an alias of the Google mailbox alice@acme.test: its mail arrives "
        "there. Connect alice@acme.test, the mailbox's main address."
    ]
    assert not Mailbox.objects.exists()


def test_another_account_is_refused_naming_the_account_used(gcloud, client, owner):
    response = sign_in(client, ALICE, as_user=BOB)

    assert "You signed in to Google as bob@gmail.com" in said(response)[0]
    assert not Mailbox.objects.exists()


def test_declining_consent_says_so_and_saves_nothing(gcloud, client, owner):
    response = sign_in(client, button="cancel")

    assert said(response) == [
        'You declined to give Postcard access. To connect, sign in again and choose "Allow".'
    ]
    assert not Mailbox.objects.exists()


def test_an_organisation_that_blocks_the_app_gets_the_admin_hint(gcloud, client, settings):
    gcloud.accounts.block_app("blocked.test", sign_in="redirect")
    client.force_login(UserFactory(email="carol@blocked.test"))

    response = sign_in(client, "carol@blocked.test")

    message = said(response)[0]
    assert "Google Workspace administrator restricts access" in message
    assert settings.GOOGLE_CLIENT_ID in message
    page = client.get(response["Location"])
    assert settings.GOOGLE_CLIENT_ID in page.content.decode()  # shown on the settings page
    assert not Mailbox.objects.exists()


def test_one_google_address_is_connected_for_one_user_only(gcloud, client, owner):
    connect(client)
    colleague = UserFactory(username="bob")
    client.force_login(colleague)

    response = sign_in(client)

    assert said(response)[-1] == (
        "alice@acme.test is already connected in this CRM by Alice Archer. One address is "
        "synchronized for one user only: ask them or support to disconnect it first."
    )
    support = UserFactory(is_staff=True)
    client.force_login(support)
    assert f"Alice Archer ({ALICE})" in said(sign_in(client))[-1]  # the holder named to staff
    assert Mailbox.objects.count() == 1


def test_without_an_oauth_client_the_page_says_so(client, owner, settings):
    settings.GOOGLE_CLIENT_ID = ""

    page = client.get(g_url("mailbox-connect-oauth"), {"address": ALICE})

    assert "Google sign-in is not set up on this Postcard server yet" in page.content.decode()


# --- the mirror ------------------------------------------------------------------------------


def test_first_import_mirrors_inbox_sent_and_labels_once_each(gcloud, client, owner):
    accounts = gcloud.accounts
    projects = accounts.create_label(ALICE, "Projects")
    deliver(gcloud, 1)
    deliver(gcloud, 2, labels=("SENT",))
    deliver(gcloud, 3, labels=("INBOX", "CATEGORY_PROMOTIONS"))  # a tab: still Inbox mail
    deliver(gcloud, 4, labels=(projects,))  # archived, with a label
    deliver(gcloud, 5, labels=("INBOX", projects, "STARRED"))  # many labels: one message
    deliver(gcloud, 6, labels=())  # archived without a label
    deliver(gcloud, 7, labels=("SPAM",))
    deliver(gcloud, 8, labels=("TRASH", projects))
    deliver(gcloud, 9, labels=("DRAFT",))
    mailbox = connect(client)

    counts, _ = run_sync(mailbox)

    assert counts.added == 5
    assert subjects(mailbox) == [f"Message {n}" for n in (1, 2, 3, 4, 5)]
    assert list(mailbox.folders.values_list("label", flat=True)) == [gmail.FOLDER.label]


def test_labels_trash_spam_and_deletion_follow_without_downloading_again(gcloud, client, owner):
    accounts = gcloud.accounts
    projects = accounts.create_label(ALICE, "Projects")
    first, second, third, fourth = (deliver(gcloud, n) for n in range(1, 5))
    mailbox = connect(client)
    run_sync(mailbox)

    accounts.add_labels(ALICE, first, [projects])
    accounts.remove_labels(ALICE, first, ["INBOX"])  # archived, still labelled: stays
    accounts.remove_labels(ALICE, second, ["INBOX"])  # archived, no label left: leaves
    accounts.trash(ALICE, third)
    accounts.mark_spam(ALICE, fourth)
    deliver(gcloud, 5)
    counts, provider = run_sync(mailbox)

    assert subjects(mailbox) == ["Message 1", "Message 5"]
    assert len(provider.downloaded) == 1
    assert (counts.added, counts.removed) == (1, 3)

    accounts.untrash(ALICE, third)  # back from Trash: back in the CRM
    accounts.not_spam(ALICE, fourth)
    accounts.delete_forever(ALICE, first)
    accounts.delete_forever(ALICE, deliver(gcloud, 6))  # arrived and gone between two syncs
    run_sync(mailbox)
    assert subjects(mailbox) == ["Message 3", "Message 4", "Message 5"]


def test_a_quiet_sync_is_one_history_call(gcloud, client, owner):
    deliver(gcloud, 1)
    mailbox = connect(client)
    run_sync(mailbox)

    gcloud.accounts.reset_calls(ALICE)
    counts, provider = run_sync(mailbox)

    assert gcloud.accounts.calls(ALICE) == ["gmail.users.history.list"]
    assert (counts.added, counts.removed, provider.downloaded) == (0, 0, [])


def test_changes_spread_over_history_pages_all_arrive(gcloud, client, owner, monkeypatch):
    monkeypatch.setattr(gmail, "PAGE_SIZE", 3)
    mailbox = connect(client)
    run_sync(mailbox)

    ids = [deliver(gcloud, n) for n in range(10)]
    for message_id in ids[:4]:
        gcloud.accounts.trash(ALICE, message_id)
    run_sync(mailbox)

    assert subjects(mailbox) == sorted(f"Message {n}" for n in range(4, 10))


def test_how_far_back_applies_to_the_first_import(gcloud, client, owner):
    deliver(gcloud, 1)
    gcloud.accounts.deliver(
        ALICE,
        email(2, sender=JANE, to=ALICE, days_ago=200),
        internal_date=datetime.now(UTC) - timedelta(days=200),
    )

    mailbox = connect(client, since="90")
    run_sync(mailbox)

    assert subjects(mailbox) == ["Message 1"]


def test_new_mail_only_starts_from_now(gcloud, client, owner):
    deliver(gcloud, 1)
    mailbox = connect(client, since="0")
    run_sync(mailbox)
    assert subjects(mailbox) == []

    deliver(gcloud, 2)
    run_sync(mailbox)
    assert subjects(mailbox) == ["Message 2"]


def test_history_gmail_no_longer_has_relists_without_duplicates_or_downloads(gcloud, client, owner):
    deliver(gcloud, 1)
    gone = deliver(gcloud, 2)
    mailbox = connect(client, since="90")
    run_sync(mailbox)

    gcloud.accounts.delete_forever(ALICE, gone)
    deliver(gcloud, 3)
    gcloud.accounts.expire_history(ALICE)
    _counts, provider = run_sync(mailbox)

    assert subjects(mailbox) == ["Message 1", "Message 3"]
    assert len(provider.downloaded) == 1
    assert Message.objects.count() == 2
    gcloud.accounts.reset_calls(ALICE)
    run_sync(mailbox)  # back on history
    assert gcloud.accounts.calls(ALICE) == ["gmail.users.history.list"]


def test_a_quota_storm_is_waited_out_and_the_quota_never_exceeded(gcloud, client, owner, settings):
    for n in range(60):
        deliver(gcloud, n)
    mailbox = connect(client)
    gcloud.accounts.throttle(ALICE, 3, status=429, reason="rateLimitExceeded")

    counts, _ = run_sync(mailbox)
    gcloud.accounts.throttle(ALICE, 2, status=403, reason="userRateLimitExceeded")
    deliver(gcloud, 61)
    more, _ = run_sync(mailbox)

    assert (counts.added, more.added) == (60, 1)
    assert gcloud.accounts.peak_units_per_minute(ALICE) <= settings.GOOGLE_QUOTA_UNITS_PER_MINUTE


def test_postcard_keeps_under_the_per_user_quota(gcloud, client, owner, settings):
    """A quota of 400 units a minute (80 downloads): Postcard spends at most that in any minute,
    so Gmail never refuses a call. The budget's minute is the real one: 100 messages take a
    little over a minute, hence only here."""
    settings.GOOGLE_QUOTA_UNITS_PER_MINUTE = 400
    gcloud.accounts.set_quota(400)
    for n in range(90):
        deliver(gcloud, n)
    mailbox = connect(client)

    counts, _ = run_sync(mailbox)

    assert counts.added == 90
    assert gcloud.accounts.peak_units_per_minute(ALICE) <= 400
    assert not gcloud.accounts.refused(ALICE)


def test_a_long_quota_wait_pauses_the_mailbox_for_every_worker(gcloud, client, owner):
    deliver(gcloud, 1)
    mailbox = connect(client)
    gcloud.accounts.throttle(ALICE, 100, status=429, reason="rateLimitExceeded", retry_after=120)

    outcome = services.mailbox_sync(mailbox_id=mailbox.pk)

    mailbox.refresh_from_db()
    assert "Gmail asked Postcard to wait" in outcome.error
    assert mailbox.paused_until is not None
    assert mailbox.paused_until > datetime.now(UTC) + timedelta(seconds=100)
    assert services.mailbox_sync(mailbox_id=mailbox.pk).ran is False


def test_reconciliation_repairs_drift_both_ways(gcloud, client, owner):
    kept, lost = deliver(gcloud, 1), deliver(gcloud, 2)
    mailbox = connect(client)
    run_sync(mailbox)
    Message.objects.filter(subject="Message 1").delete()  # the CRM lost one...
    gcloud.accounts.delete_forever(ALICE, lost)
    gcloud.accounts.forget_history(ALICE)  # ...and history never said a word of the other

    counts, provider = run_sync(mailbox, reconcile=True)

    assert subjects(mailbox) == ["Message 1"]
    assert provider.downloaded == [kept]
    assert (counts.added, counts.removed) == (1, 1)


# --- token life ------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["revoke_grants", "change_password"])
def test_a_revoked_grant_disconnects_once_and_reconnecting_keeps_the_mail(
    gcloud, client, owner, how
):
    deliver(gcloud, 1)
    mailbox = connect(client)
    assert services.mailbox_sync(mailbox_id=mailbox.pk).error == ""
    mail.outbox.clear()

    getattr(gcloud.accounts, how)(ALICE)
    gcloud.accounts.expire_access_tokens()
    services.mailbox_sync(mailbox_id=mailbox.pk)
    services.mailbox_sync(mailbox_id=mailbox.pk)  # still broken: no second email

    mailbox.refresh_from_db()
    assert mailbox.state == MailboxState.DISCONNECTED
    assert "Google ended Postcard's access" in mailbox.state_reason
    assert len(mail.outbox) == 1
    assert "Reconnect" in client.get(reverse("mailbox-settings")).content.decode()

    deliver(gcloud, 2)
    response = sign_in(client, start="reconnect")
    assert said(response) == ["Reconnected. Synchronization resumes where it stopped."]
    _counts, provider = run_sync(Mailbox.objects.get())
    assert subjects(mailbox) == ["Message 1", "Message 2"]
    assert len(provider.downloaded) == 1  # nothing imported again


def test_an_expired_access_token_is_refreshed_silently_and_stored(gcloud, client, owner):
    deliver(gcloud, 1)
    mailbox = connect(client)
    before = mailbox.credentials
    gcloud.accounts.expire_access_tokens()

    assert services.mailbox_sync(mailbox_id=mailbox.pk).error == ""

    mailbox.refresh_from_db()
    assert subjects(mailbox) == ["Message 1"]
    assert mailbox.credentials != before  # the new access token, for the next sync


def test_an_app_blocked_later_by_the_admin_disconnects_with_the_hint(gcloud, client, owner):
    mailbox = connect(client)
    gcloud.accounts.block_app("acme.test")
    gcloud.accounts.expire_access_tokens()

    services.mailbox_sync(mailbox_id=mailbox.pk)

    mailbox.refresh_from_db()
    assert mailbox.state == MailboxState.DISCONNECTED
    assert "Google Workspace administrator restricts access" in mailbox.state_reason


def test_disconnecting_revokes_the_grant_at_google(gcloud, client, owner):
    mailbox = connect(client)
    assert gcloud.accounts.grant_active(ALICE)

    response = client.post(reverse("mailbox-disconnect"), {"emails": "keep"}, follow=True)

    assert response.status_code == 200
    assert not gcloud.accounts.grant_active(ALICE)
    mailbox.refresh_from_db()
    assert (mailbox.state, mailbox.credentials) == (MailboxState.DISCONNECTED, "")


def test_disconnecting_while_google_is_unreachable_still_disconnects_and_says_so(
    gcloud, client, owner, settings
):
    mailbox = connect(client)
    settings.GOOGLE_REVOKE_URI = "https://127.0.0.1:9/revoke"  # nothing listens there

    response = client.post(reverse("mailbox-disconnect"), {"emails": "keep"}, follow=True)

    assert "myaccount.google.com/permissions" in response.content.decode()
    mailbox.refresh_from_db()
    assert mailbox.credentials == ""


def test_tokens_never_reach_the_logs(gcloud, client, owner, caplog):
    caplog.set_level("DEBUG")
    deliver(gcloud, 1)
    mailbox = connect(client)
    gcloud.accounts.expire_access_tokens()  # the sync refreshes: new tokens pass by too
    services.mailbox_sync(mailbox_id=mailbox.pk)

    stored = json.loads(json.loads(Mailbox.objects.get().credentials)["token_cache"])
    secrets = [stored["refresh_token"], stored["access_token"]]
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert not [s for s in secrets if s in logged]


# --- more of the scenario list -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sync_killed_at_a_random_point_resumes_with_exactly_the_right_messages(
    gcloud, client, owner
):
    if connection.vendor != "postgresql":
        pytest.skip("the killed sync runs in another process: needs a shared PostgreSQL database")
    total = 600
    for n in range(total):
        deliver(gcloud, n)
    mailbox = connect(client)

    outcome = sync_killed_then_resumed(
        mailbox,
        ALICE,
        total,
        (
            "GOOGLE_CLIENT_ID",
            "GOOGLE_CLIENT_SECRET",
            "GOOGLE_AUTH_URI",
            "GOOGLE_TOKEN_URI",
            "GOOGLE_REVOKE_URI",
            "GOOGLE_GMAIL_URL",
            "GOOGLE_REDIRECT_URI",
        ),
    )

    assert outcome.ran
    assert outcome.error == ""
    ids = list(Message.objects.values_list("message_id", flat=True))
    assert len(ids) == len(set(ids)) == total
    assert set(ids) == {f"msg-{n}@customer.test" for n in range(total)}


def mirrored_now(accounts) -> set[str]:
    """What the CRM must hold: the Message-IDs of messages in a synced label."""
    return {
        m.message_id.strip("<>") for m in accounts.messages(ALICE) if gmail.in_scope(m.label_ids)
    }


def mirrored_in_crm(mailbox: Mailbox) -> set[str]:
    ids = Message.objects.filter(mailbox=mailbox).values_list("message_id", flat=True)
    return {i.strip("<>") for i in ids}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_day_of_changes_leaves_the_crm_equal_to_the_mailbox(gcloud, client, owner, seed):
    rng = random.Random(seed)
    accounts = gcloud.accounts
    labels = [accounts.create_label(ALICE, "Projects"), accounts.create_label(ALICE, "Acme")]
    label_sets = [("INBOX",), ("SENT",), (labels[0],), ("INBOX", labels[1]), (), ("SPAM",)]
    counter = iter(range(10_000))
    for _ in range(20):
        deliver(gcloud, next(counter), labels=rng.choice(label_sets))
    mailbox = connect(client)
    run_sync(mailbox)

    for _ in range(12):  # a day: bursts of changes, each followed by the minute's sync
        for _ in range(rng.randint(1, 8)):
            held = [m.id for m in accounts.messages(ALICE)]
            action = rng.choice(
                ["deliver", "deliver", "label", "unlabel", "trash", "untrash", "spam", "delete"]
            )
            if action == "deliver" or not held:
                deliver(gcloud, next(counter), labels=rng.choice(label_sets))
                continue
            target = rng.choice(held)
            if action == "label":
                accounts.add_labels(ALICE, target, [rng.choice([*labels, "INBOX"])])
            elif action == "unlabel":
                accounts.remove_labels(ALICE, target, [rng.choice([*labels, "INBOX"])])
            elif action == "trash":
                accounts.trash(ALICE, target)
            elif action == "untrash":
                accounts.untrash(ALICE, target)
            elif action == "spam":
                accounts.mark_spam(ALICE, target)
            else:
                accounts.delete_forever(ALICE, target)
        if rng.random() < 0.2:
            accounts.expire_history(ALICE)
        if rng.random() < 0.2:
            accounts.throttle(ALICE, rng.randint(1, 3), status=429, reason="rateLimitExceeded")
        run_sync(mailbox)

    assert mirrored_in_crm(mailbox) == mirrored_now(accounts)
    ids = list(Message.objects.filter(mailbox=mailbox).values_list("message_id", flat=True))
    assert len(ids) == len(set(ids))  # each email once, whatever it went through


@pytest.mark.parametrize(
    ("method", "name", "data"),
    [
        ("get", "mailbox-oauth-callback", {"state": "x" * 5000, "code": "\x00"}),
        ("get", "mailbox-oauth-callback", {"error": "admin_policy_enforced"}),
        ("get", "mailbox-oauth-finish", {"state": "never-issued"}),
        ("post", "mailbox-connect-oauth", {"address": ALICE, "sync_since": "forever"}),
        ("post", "mailbox-connect-shared", {"address": "@@", "sync_since": "90"}),
    ],
)
def test_bad_input_to_the_sign_in_pages_is_a_page_not_an_error(
    gcloud, client, owner, method, name, data
):
    response = getattr(client, method)(g_url(name), data)

    assert response.status_code in (200, 302)
    assert not Mailbox.objects.exists()


def test_a_shared_google_mailbox_is_connected_by_signing_in_as_itself(gcloud, client, owner):
    refused = sign_in(client, BOB, as_user=ALICE, start="shared")
    assert "Sign in as bob@gmail.com itself" in said(refused)[0]

    gcloud.accounts.deliver(BOB, email(7, sender=JANE, to=BOB))
    response = sign_in(client, BOB, start="shared")

    assert said(response)[-1] == f"{BOB} connected. Its first import starts in a moment."
    shared = Mailbox.objects.get(address=BOB)
    assert shared.owner.parent == owner
    run_sync(shared)
    assert subjects(shared) == ["Message 7"]


@pytest.mark.parametrize(
    "error",
    [
        {"code": 403, "errors": [{"reason": "userRateLimitExceeded"}]},
        {"code": 403, "details": [{"reason": "RATE_LIMIT_EXCEEDED"}]},
        {
            "code": 403,
            "errors": [{"reason": "forbidden"}],
            "details": [{"reason": "RATE_LIMIT_EXCEEDED"}],
        },
    ],
)
def test_google_quota_reasons_are_read_wherever_google_puts_them(error):
    """Google names a rate limit in `errors[]`, in `details[]` (upper case), or both: each is a
    wait, never a lost permission that would disconnect the mailbox."""
    import httplib2
    from googleapiclient.errors import HttpError

    refused = HttpError(httplib2.Response({"status": 403}), json.dumps({"error": error}).encode())

    assert gmail._rate_limited(403, gmail._reason(refused))
