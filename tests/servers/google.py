"""A fake Google for tests: the OAuth server (HTTPS), the Gmail API and the Calendar and Tasks
APIs, one shared state.

    with GoogleCloud() as google:
        flow = Flow.from_client_config(google.client_config(), scopes=[...],
                                       redirect_uri=google.redirect_uri)
        google.accounts.deliver("alice@acme.test", raw_mime)
        service = build("gmail", "v1", credentials=creds,
                        client_options={"api_endpoint": google.gmail_url})
        calendar = build("calendar", "v3", credentials=creds,
                         client_options={"api_endpoint": google.calendar_url})
        tasks = build("tasks", "v1", credentials=creds,
                      client_options={"api_endpoint": google.tasks_url})

The pieces: `gmail_state.GoogleAccounts` (state and control API; calendars and tasks in its base
`google_calendar_state.CalendarsAndTasks`), `google_identity.GoogleIdentityServer` (what
google-auth-oauthlib and google-auth talk to: sign-in page, token and revoke endpoints),
`gmail.GmailServer` and `google_calendar.GoogleApisServer` (what google-api-python-client talks
to), and `pubsub.PubSub` (`accounts.pubsub`, also `cloud.pubsub`: the topics and push
subscriptions Gmail's users.watch publishes to; its pushes carry id tokens the identity fake
signs, verifiable against `cloud.certs_uri` or `cloud.x509_certs_uri`). The accounts start with
one registered web client and three users, password "secret" each:

- alice@acme.test: Google Workspace (domain acme.test), "Alice Archer", a verified send-as
  alias sales@acme.test.
- bob@gmail.com: a consumer Gmail account.
- carol@blocked.test: Google Workspace whose admin has restricted our app
  (`accounts.block_app("blocked.test")`): her sign-in ends on Google's admin_policy_enforced page.

oauthlib and google-auth reach the token endpoint through requests, which prefers
REQUESTS_CA_BUNDLE over `verify=`: point that variable at `ca_pem_path` (the `google` fixture
does). Gmail, Calendar and Tasks are plain http, so httplib2 (which ignores that variable) needs
nothing. Every user has a primary calendar (id: the address) and the task list "My Tasks".
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from tests.servers.gmail import GmailServer
from tests.servers.gmail_state import GoogleAccounts, OAuthClient
from tests.servers.google_calendar import GoogleApisServer
from tests.servers.google_identity import GoogleIdentityServer
from tests.servers.pubsub import PubSub

DEFAULT_REDIRECT_URI = "http://testserver/settings/mailbox/connect/google/callback/"


class GoogleCloud:
    """The fakes around one fresh `GoogleAccounts`."""

    def __init__(self, *, redirect_uri: str = DEFAULT_REDIRECT_URI) -> None:
        self.accounts = GoogleAccounts(redirect_uris=[redirect_uri])
        self.redirect_uri = redirect_uri
        self.identity = GoogleIdentityServer(self.accounts)
        # Pub/Sub push requests carry OIDC id tokens Google signs (cloud.google.com/pubsub/docs/
        # authenticate-push-subscriptions): the identity fake's key, served at its certs URLs.
        self.accounts.pubsub.token_minter = self.identity.mint_push_token
        try:
            self.gmail = GmailServer(self.accounts)
        except BaseException:
            self.identity.close()
            raise
        try:
            self.apis = GoogleApisServer(self.accounts)
        except BaseException:
            self.gmail.close()
            self.identity.close()
            raise

    @property
    def pubsub(self) -> PubSub:
        return self.accounts.pubsub

    @property
    def certs_uri(self) -> str:
        """Google's signing keys as a JWK set (www.googleapis.com/oauth2/v3/certs), for
        google.oauth2.id_token.verify_token(..., certs_url=...)."""
        return self.identity.certs_uri

    @property
    def x509_certs_uri(self) -> str:
        """The same keys as key id -> PEM certificate (www.googleapis.com/oauth2/v1/certs)."""
        return self.identity.x509_certs_uri

    @property
    def client(self) -> OAuthClient:
        return self.accounts.client

    @property
    def client_id(self) -> str:
        return self.client.client_id

    @property
    def client_secret(self) -> str:
        return self.client.client_secret

    @property
    def auth_uri(self) -> str:
        return self.identity.auth_uri

    @property
    def token_uri(self) -> str:
        return self.identity.token_uri

    @property
    def revoke_uri(self) -> str:
        return self.identity.revoke_uri

    @property
    def gmail_url(self) -> str:
        """The api_endpoint for `build("gmail", "v1", client_options=...)`, ending in "/"."""
        return self.gmail.base_url

    @property
    def calendar_url(self) -> str:
        """The api_endpoint for `build("calendar", "v3", client_options=...)`: the fake's root
        plus calendar.v3.json's servicePath, "http://127.0.0.1:PORT/calendar/v3/"."""
        return self.apis.calendar_url

    @property
    def tasks_url(self) -> str:
        """The api_endpoint for `build("tasks", "v1", client_options=...)`: the fake's root,
        "http://127.0.0.1:PORT/" (tasks.v1.json's paths start with "tasks/v1/")."""
        return self.apis.tasks_url

    @property
    def ca_pem_path(self) -> str:
        return self.identity.ca_pem_path

    def client_config(self) -> dict[str, Any]:
        """The "web" client secrets JSON Google's console offers, aimed at these fakes (for
        google_auth_oauthlib.flow.Flow.from_client_config)."""
        return {
            "web": {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "auth_uri": self.auth_uri,
                "token_uri": self.token_uri,
                "redirect_uris": list(self.client.redirect_uris),
            }
        }

    def add_redirect_uri(self, uri: str) -> None:
        """Register one more redirect URI (a browser test's live-server callback)."""
        with self.accounts.lock:
            if uri not in self.client.redirect_uris:
                self.client.redirect_uris.append(uri)

    def close(self) -> None:
        self.pubsub.close()
        try:
            self.apis.close()
        finally:
            try:
                self.gmail.close()
            finally:
                self.identity.close()

    def __enter__(self) -> GoogleCloud:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def point_postcard_at(cloud: GoogleCloud, settings: Any, callback_url: str) -> None:
    """Postcard's settings as an operator sets them for Google, aimed at these fakes, with
    `callback_url` registered as the client's redirect URI."""
    cloud.add_redirect_uri(callback_url)
    settings.GOOGLE_CLIENT_ID = cloud.client_id
    settings.GOOGLE_CLIENT_SECRET = cloud.client_secret
    settings.GOOGLE_AUTH_URI = cloud.auth_uri
    settings.GOOGLE_TOKEN_URI = cloud.token_uri
    settings.GOOGLE_REVOKE_URI = cloud.revoke_uri
    settings.GOOGLE_GMAIL_URL = cloud.gmail_url
    settings.GOOGLE_CALENDAR_URL = cloud.calendar_url
    settings.GOOGLE_TASKS_URL = cloud.tasks_url
    settings.GOOGLE_REDIRECT_URI = callback_url
