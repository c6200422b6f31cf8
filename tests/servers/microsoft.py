"""A fake Microsoft 365 for tests: the identity platform (HTTPS) and Graph, one shared tenant.

    with MicrosoftCloud() as microsoft:
        app = msal.ConfidentialClientApplication(
            microsoft.client_id, client_credential=microsoft.client_secret,
            authority=microsoft.authority, instance_discovery=False)
        microsoft.tenant.deliver("alice@contoso.com", raw_mime)
        ...Graph calls go to microsoft.graph_url...

The pieces: `microsoft_tenant.MicrosoftTenant` (state and control API), `microsoft_identity.
IdentityServer` (what MSAL talks to), `graph.GraphServer` (what the Graph client talks to).
The tenant starts with one registered app and two users with mailboxes:

- alice: UPN alice@contoso.onmicrosoft.com, primary address alice@contoso.com (a custom domain,
  as most tenants have), alias a.archer@contoso.com, password "secret".
- bob: bob@contoso.onmicrosoft.com, bob@contoso.com, password "secret".

MSAL reads the CA through requests, which prefers REQUESTS_CA_BUNDLE over `verify=`: point that
variable at `ca_pem_path` (the `microsoft` fixture does).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from tests.servers.graph import GraphServer
from tests.servers.microsoft_identity import IdentityServer
from tests.servers.microsoft_tenant import App, MicrosoftTenant, User

DEFAULT_REDIRECT_URI = "http://testserver/mailbox/microsoft/callback/"


class MicrosoftCloud:
    """Both fakes around one fresh tenant, with a registered app and the users alice and bob."""

    def __init__(self, *, redirect_uri: str = DEFAULT_REDIRECT_URI) -> None:
        self.tenant = MicrosoftTenant()
        self.app: App = self.tenant.add_app([redirect_uri])
        self.alice: User = self.tenant.add_user(
            "alice@contoso.onmicrosoft.com",
            display_name="Alice Archer",
            mail="alice@contoso.com",
            aliases=("a.archer@contoso.com",),
        )
        self.bob: User = self.tenant.add_user(
            "bob@contoso.onmicrosoft.com", display_name="Bob Baker", mail="bob@contoso.com"
        )
        self.redirect_uri = redirect_uri
        self.identity = IdentityServer(self.tenant)
        try:
            self.graph = GraphServer(self.tenant)
        except BaseException:
            self.identity.close()
            raise

    @property
    def authority(self) -> str:
        return self.identity.authority

    @property
    def graph_url(self) -> str:
        return self.graph.base_url

    @property
    def ca_pem_path(self) -> str:
        return self.identity.ca_pem_path

    @property
    def client_id(self) -> str:
        return self.app.client_id

    @property
    def client_secret(self) -> str:
        return self.app.client_secret

    def add_redirect_uri(self, uri: str) -> None:
        """Register one more redirect URI (a browser test's live-server callback)."""
        with self.tenant.lock:
            if uri not in self.app.redirect_uris:
                self.app.redirect_uris.append(uri)

    def close(self) -> None:
        try:
            self.graph.close()
        finally:
            self.identity.close()

    def __enter__(self) -> MicrosoftCloud:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def point_postcard_at(cloud: MicrosoftCloud, settings: Any, callback_url: str) -> None:
    """Postcard's settings as an operator sets them for Microsoft, aimed at these fakes, with
    `callback_url` registered as the app's redirect URI."""
    cloud.add_redirect_uri(callback_url)
    login_url, tenant = cloud.authority.rsplit("/", 1)
    settings.MICROSOFT_CLIENT_ID = cloud.client_id
    settings.MICROSOFT_CLIENT_SECRET = cloud.client_secret
    settings.MICROSOFT_LOGIN_URL = login_url
    settings.MICROSOFT_TENANT = tenant
    settings.MICROSOFT_GRAPH_URL = cloud.graph_url
    settings.MICROSOFT_REDIRECT_URI = callback_url
