"""A fake Google OAuth 2.0 server (sign-in, token and revoke endpoints) over HTTPS.

    identity = GoogleIdentityServer(accounts)   # https://127.0.0.1:PORT
    flow = google_auth_oauthlib.flow.Flow.from_client_config(
        {"web": {..., "auth_uri": identity.auth_uri, "token_uri": identity.token_uri}}, scopes)
    identity.close()

It also serves Google's signing keys, as Google does in two formats:
`certs_uri` (/oauth2/v3/certs, a JWK set) and `x509_certs_uri` (/oauth2/v1/certs, key id -> PEM
certificate), and mints the OIDC id tokens Pub/Sub push requests carry (`mint_push_token`, also
for forged ones: another key, another issuer, expired). google-auth's
`google.oauth2.id_token.verify_token(token, request, audience=..., certs_url=...)` verifies them
against either URL: with the JWK set it decodes with PyJWT (failures raise `jwt.PyJWTError`
subclasses), with the PEM map with google.auth.jwt (failures raise ValueError subclasses).

oauthlib refuses a token endpoint that is not https (`is_secure_transport`), so this serves TLS
with a certificate from the shared test CA (tests/servers/tls.py); `ca_pem_path` goes into
REQUESTS_CA_BUNDLE. It speaks the wire format of
developers.google.com/identity/protocols/oauth2/web-server: the authorization endpoint (a plain
HTML sign-in and consent page a browser test can fill in: "Email", "Password", "Allow" /
"Cancel"), the token endpoint (authorization_code with PKCE, refresh_token) and the revoke
endpoint, with Google's error answers. State lives in the shared `GoogleAccounts`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import quote, urlencode

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from googleapiclient.discovery_cache import get_static_doc
from werkzeug.datastructures import MultiDict
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.servers.gmail import discovery_document
from tests.servers.gmail_state import (
    ACCESS_TOKEN_LIFETIME,
    SCOPE_ALIASES,
    GoogleAccounts,
    GoogleUser,
    Grant,
    OAuthClient,
    normalize_scopes,
)
from tests.servers.microsoft_tenant import ServedInThread
from tests.servers.tls import HOST, local_ca, server_context

AUTH_PATH = "/o/oauth2/v2/auth"
TOKEN_PATH = "/token"
REVOKE_PATH = "/revoke"
CERTS_PATH = "/oauth2/v3/certs"
X509_CERTS_PATH = "/oauth2/v1/certs"
# developers.google.com/identity/openid-connect/openid-connect#validatinganidtoken: "The value
# of iss in the ID token is equal to https://accounts.google.com or accounts.google.com."
GOOGLE_ISSUER = "https://accounts.google.com"
# cloud.google.com/pubsub/docs/authenticate-push-subscriptions: the sample token's exp is its
# iat plus 3600.
PUSH_TOKEN_LIFETIME = 3600
# Never written to the token request log.
SECRET_FIELDS = frozenset({"client_secret", "code_verifier"})
SIGNING_KEY_ID = "fake-google-signing-key"
# The authorization parameters the sign-in form carries back in hidden fields
# (web-server#creatingclient lists them).
AUTH_PARAMS = (
    "client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge",
    "code_challenge_method", "access_type", "include_granted_scopes", "login_hint", "prompt",
)  # fmt: skip
# What the consent screen says for the scopes it knows (gmail.v1.json "auth" descriptions).
SCOPE_DESCRIPTIONS = {
    "openid": "Associate you with your personal info on Google",
    "https://www.googleapis.com/auth/userinfo.email": "See your primary Google Account email "
    "address",
    "https://www.googleapis.com/auth/userinfo.profile": "See your personal info",
}


@cache
def _api_scopes() -> dict[str, str]:
    """The scopes of the APIs faked here, in the consent screen's words (the "auth" sections
    of gmail.v1.json, calendar.v3.json and tasks.v1.json)."""
    found: dict[str, str] = {}
    for name, version in (("gmail", "v1"), ("calendar", "v3"), ("tasks", "v1")):
        document = discovery_document() if name == "gmail" else api_document(name, version)
        scopes: dict[str, Any] = document["auth"]["oauth2"]["scopes"]
        for scope, info in scopes.items():
            found.setdefault(scope, str(info["description"]))
    return found


def api_document(name: str, version: str) -> dict[str, Any]:
    return dict(json.loads(get_static_doc(name, version) or "{}"))


@cache
def _signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def _signing_certificate_pem() -> str:
    """A self-signed certificate for the signing key, as www.googleapis.com/oauth2/v1/certs
    serves Google's keys (key id -> PEM certificate)."""
    key = _signing_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounts.google.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=14))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def service_account_id(email: str) -> str:
    """A service account's unique id, the sub and azp of its id tokens: 21 decimal digits
    (authenticate-push-subscriptions' sample: "113774264463038321964"), stable per address."""
    digest = int(hashlib.sha256(email.lower().encode()).hexdigest()[:20], 16)
    return f"1{digest % 10**20:020d}"


def mint_push_token(
    audience: str,
    email: str,
    *,
    key: rsa.RSAPrivateKey | None = None,
    issuer: str = GOOGLE_ISSUER,
    expired: bool = False,
    kid: str = SIGNING_KEY_ID,
    claims: Mapping[str, Any] | None = None,
) -> str:
    """The OIDC id token a Pub/Sub push request carries (cloud.google.com/pubsub/docs/
    authenticate-push-subscriptions#jwt_format): header alg RS256, kid, typ JWT; claims aud,
    azp, email, email_verified, exp, iat, iss, sub. Signed with the fake Google key unless `key`
    is given (a forgery: same kid by default, so a verifier finds Google's key and the
    signature fails); `expired` dates it two hours back; `claims` override or add claims."""
    now = int(time.time())
    issued = now - 2 * PUSH_TOKEN_LIFETIME if expired else now
    account_id = service_account_id(email)
    payload: dict[str, Any] = {
        "aud": audience,
        "azp": account_id,
        "email": email,
        "email_verified": True,
        "exp": issued + PUSH_TOKEN_LIFETIME,
        "iat": issued,
        "iss": issuer,
        "sub": account_id,
    }
    payload.update(claims or {})
    return jwt.encode(
        payload, key or _signing_key(), algorithm="RS256", headers={"kid": kid, "typ": "JWT"}
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class GoogleIdentityServer:
    """accounts.google.com and oauth2.googleapis.com for one `GoogleAccounts`."""

    def __init__(self, accounts: GoogleAccounts) -> None:
        self.accounts = accounts
        _, self.ca_pem_path = local_ca()
        self._server: BaseWSGIServer = make_server(
            HOST,
            0,
            self._wsgi,
            threaded=True,
            request_handler=_QuietHandler,
            ssl_context=server_context(),
        )
        self.port = self._server.server_port
        self.base_url = f"https://{HOST}:{self.port}"
        self.auth_uri = self.base_url + AUTH_PATH
        self.token_uri = self.base_url + TOKEN_PATH
        self.revoke_uri = self.base_url + REVOKE_PATH
        self.certs_uri = self.base_url + CERTS_PATH
        self.x509_certs_uri = self.base_url + X509_CERTS_PATH
        self._serving = ServedInThread(self._server)

    def close(self) -> None:
        self._serving.close()

    def mint_push_token(
        self,
        audience: str,
        email: str,
        *,
        key: rsa.RSAPrivateKey | None = None,
        issuer: str = GOOGLE_ISSUER,
        expired: bool = False,
        kid: str = SIGNING_KEY_ID,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A Pub/Sub push id token (see the module function `mint_push_token`); the fake
        Pub/Sub signs its pushes with this."""
        return mint_push_token(
            audience, email, key=key, issuer=issuer, expired=expired, kid=kid, claims=claims
        )

    # --- plumbing ----------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        routes: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("GET", AUTH_PATH): self._authorize_page,
            ("POST", AUTH_PATH): self._sign_in,
            ("POST", TOKEN_PATH): self._token,
            ("POST", REVOKE_PATH): self._revoke,
            ("GET", CERTS_PATH): self._certs,
            ("GET", X509_CERTS_PATH): self._x509_certs,
        }
        handler = routes.get((request.method, request.path))
        if handler is None:
            response = Response("Not Found", status=404, content_type="text/plain")
        else:
            response = handler(request)
        return response(environ, start_response)

    # --- authorization endpoint --------------------------------------------------------------

    def _check_client(self, params: MultiDict[str, str]) -> Response | OAuthClient:
        """web-server#authorization-errors: an unknown client (invalid_client, "The OAuth
        client was not found.", 401) and an unregistered redirect URI (redirect_uri_mismatch,
        400) are shown on Google's own page; the browser is never sent to the redirect URI."""
        with self.accounts.lock:
            client = self.accounts.clients.get(params.get("client_id", ""))
            if client is None:
                return _error_page(401, "invalid_client", "The OAuth client was not found.")
            if params.get("redirect_uri") not in client.redirect_uris:
                return _error_page(
                    400,
                    "redirect_uri_mismatch",
                    "You can't sign in to this app because it doesn't comply with Google's "
                    "OAuth 2.0 policy. If you're the app developer, register the redirect URI "
                    "in the Google Cloud Console. Request details: "
                    f"redirect_uri={params.get('redirect_uri', '')}",
                )
            return client

    def _check_request(self, params: MultiDict[str, str]) -> Response | OAuthClient:
        client = self._check_client(params)
        if isinstance(client, Response):
            return client
        # web-server#authorization-errors-invalid-request: a malformed request is shown as
        # "Error 400: invalid_request" on Google's page.
        if params.get("response_type") != "code":
            return _error_page(400, "invalid_request", "Invalid response_type.")
        scopes = params.get("scope", "").split()
        if not scopes:
            return _error_page(400, "invalid_request", "Missing required parameter: scope")
        known = {*_api_scopes(), *SCOPE_DESCRIPTIONS, *SCOPE_ALIASES}
        unknown = [s for s in scopes if s not in known]
        if unknown:
            return _error_page(
                400, "invalid_scope", f"Some requested scopes were invalid: {unknown}"
            )
        # Google takes PKCE from any client (web-server#creatingclient: code_challenge and
        # code_challenge_method, "S256" or "plain"); this fake insists on S256, as the app
        # should.
        if not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
            return _error_page(
                400,
                "invalid_request",
                "This fake requires PKCE: code_challenge with code_challenge_method=S256.",
            )
        return client

    def _authorize_page(self, request: Request) -> Response:
        params = request.args
        client = self._check_request(params)
        if isinstance(client, Response):
            return client
        return _sign_in_page(client, params, error=None)

    def _sign_in(self, request: Request) -> Response:
        params = request.form
        client = self._check_request(params)
        if isinstance(client, Response):
            return client
        # The clicked button's value ("allow" / "cancel"; either case is taken). Enter in a
        # field submits with the first button, Allow, as a browser does.
        if params.get("action", "").lower() == "cancel":
            # web-server#handlingresponse: "An error response:
            # https://oauth2.example.com/auth?error=access_denied".
            return _redirect(params, {"error": "access_denied", "state": params.get("state")})
        user = self.accounts.find_user(params.get("email", ""))
        if user is None:
            return _sign_in_page(client, params, error="Couldn't find your Google Account")
        if user.password != params.get("password"):
            return _sign_in_page(
                client,
                params,
                error="Wrong password. Try again or click Forgot password to reset it.",
            )
        with self.accounts.lock:
            block = self.accounts.domain_block(user)
        if block == "page":
            # web-server#authorization-errors-admin-policy-enforced, shown by Google.
            return _error_page(
                400,
                "admin_policy_enforced",
                "Access to your account data is restricted by policies within your "
                f"organization. Please contact the administrator for {user.workspace_domain} "
                "for more information.",
                title="Access blocked: Authorization Error",
            )
        if block == "redirect":
            return _redirect(
                params, {"error": "admin_policy_enforced", "state": params.get("state")}
            )
        return self._allow(client, user, params)

    def _allow(
        self, client: OAuthClient, user: GoogleUser, params: MultiDict[str, str]
    ) -> Response:
        offline = params.get("access_type") == "offline"
        with self.accounts.lock:
            previous = self.accounts.current_grant(user.address, client.client_id)
            had_refresh_token = previous is not None and previous.has_refresh_token
            # Granular consent (developers.google.com/identity/protocols/oauth2/resources/
            # granular-permissions): the user may untick any permission asked for; the token
            # then carries only the others. Here: the scopes listed in the "decline" field.
            declined = set(params.get("decline", "").split())
            grant, scopes = self.accounts.consent(
                user,
                client,
                [scope for scope in params.get("scope", "").split() if scope not in declined],
                include_granted_scopes=params.get("include_granted_scopes") == "true",
            )
        # web-server#creatingclient, access_type=offline: Google returns a refresh token "the
        # first time that your application exchanges an authorization code for tokens"; later
        # authorizations get one again only with prompt=consent.
        issue_refresh = offline and (
            not had_refresh_token or "consent" in params.get("prompt", "").split()
        )
        code = self.accounts.issue_code(
            client_id=client.client_id,
            redirect_uri=params["redirect_uri"],
            address=user.address,
            grant_id=grant.id,
            scopes=scopes,
            code_challenge=params["code_challenge"],
            code_challenge_method=params["code_challenge_method"],
            offline=offline,
            issue_refresh_token=issue_refresh,
        )
        # web-server#handlingresponse: the code and the granted scopes (space separated); Google
        # adds authuser, hd (Workspace accounts) and prompt.
        answer: dict[str, str | None] = {
            "state": params.get("state"),
            "code": code.code,
            "scope": " ".join(scopes),
            "authuser": "0",
            "hd": user.workspace_domain,
            "prompt": "consent",
        }
        return _redirect(params, answer)

    # --- token endpoint ----------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        form = request.form
        client = self._authenticate_client(request)
        grant_type = form.get("grant_type", "")
        if isinstance(client, Response):
            answer = client
        elif grant_type == "authorization_code":
            answer = self._redeem_code(client, form)
        elif grant_type == "refresh_token":
            answer = self._redeem_refresh_token(client, form)
        elif not grant_type:
            answer = _oauth_error(400, "invalid_request", "Missing required parameter: grant_type")
        else:
            answer = _oauth_error(
                400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}"
            )
        logged: dict[str, Any] = {k: v for k, v in form.items() if k not in SECRET_FIELDS}
        logged["client_auth"] = (
            "basic"
            if request.authorization is not None and request.authorization.type == "basic"
            else "body"
            if "client_secret" in form
            else "none"
        )
        logged["status"] = answer.status_code
        with self.accounts.lock:
            self.accounts.token_requests.append(logged)
        return answer

    def _authenticate_client(self, request: Request) -> Response | OAuthClient:
        # web-server#exchange-authorization-code: client_id and client_secret in the body; HTTP
        # Basic works too (RFC 6749 section 2.3.1).
        client_id = request.form.get("client_id", "")
        secret = request.form.get("client_secret")
        if request.authorization is not None and request.authorization.type == "basic":
            client_id = request.authorization.username or client_id
            secret = request.authorization.password
        with self.accounts.lock:
            client = self.accounts.clients.get(client_id)
        if client is None:
            # Google's answer (googleapis/google-api-objectivec-client#211, among many).
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if secret is None or not secrets.compare_digest(secret, client.client_secret):
            return _oauth_error(401, "invalid_client", "Unauthorized")
        return client

    def _redeem_code(self, client: OAuthClient, form: MultiDict[str, str]) -> Response:
        now = datetime.fromtimestamp(self.accounts.clock(), UTC)
        with self.accounts.lock:
            code = self.accounts.codes.get(form.get("code", ""))
            # A code unknown, used, expired or another client's: Google answers invalid_grant
            # "Bad Request" (developers.google.com/identity/protocols/oauth2/web-server
            # #exchange-authorization-code: the code is single-use).
            if code is None or code.used or code.expires_at <= now:
                return _oauth_error(400, "invalid_grant", "Bad Request")
            if code.client_id != client.client_id:
                return _oauth_error(400, "invalid_grant", "Bad Request")
            if form.get("redirect_uri") != code.redirect_uri:
                return _oauth_error(400, "redirect_uri_mismatch", "Bad Request")
            # RFC 7636 section 4.6; Google's wording of the two failures: "Missing code
            # verifier." (googleapis/google-api-php-client#2669) and "Invalid code verifier."
            # (googleapis/google-api-java-client#1479).
            verifier = form.get("code_verifier")
            if not verifier:
                return _oauth_error(400, "invalid_grant", "Missing code verifier.")
            computed = _b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
            if not secrets.compare_digest(computed, code.code_challenge):
                return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
            code.used = True
            grant = self.accounts.grants[code.grant_id]
            if not grant.active:
                return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
            user = self.accounts.users[code.address]
        return self._tokens(
            client, grant, user, code.scopes, refresh_token=code.issue_refresh_token
        )

    def _redeem_refresh_token(self, client: OAuthClient, form: MultiDict[str, str]) -> Response:
        # web-server#offline: grant_type=refresh_token answers access_token, expires_in, scope,
        # token_type (and id_token for an openid grant); the refresh token stays the same.
        with self.accounts.lock:
            token = self.accounts.refresh_tokens.get(form.get("refresh_token", ""))
            if token is None:
                return _oauth_error(400, "invalid_grant", "Bad Request")
            grant = self.accounts.grants[token.grant_id]
            if grant.client_id != client.client_id:
                return _oauth_error(401, "unauthorized_client", "Unauthorized")
            user = self.accounts.users[grant.address]
            block = self.accounts.domain_block(user)
            if block is not None:
                # oauth2#expiration; the body seen in FlowCrypt/flowcrypt-browser#1409.
                return _oauth_error(
                    400,
                    "admin_policy_enforced",
                    "This application is currently blocked by the administrator of "
                    f"{user.workspace_domain}.",
                )
            if not grant.active:
                # The answer for a revoked grant or a password change (oauth2#expiration).
                return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
            scopes = list(token.scopes)
            asked = normalize_scopes(form.get("scope", "").split())
            if form.get("scope"):
                if not set(asked) <= set(token.scopes):
                    return _oauth_error(400, "invalid_scope", "Bad Request")
                scopes = asked
        return self._tokens(client, grant, user, scopes, refresh_token=False)

    def _tokens(
        self,
        client: OAuthClient,
        grant: Grant,
        user: GoogleUser,
        scopes: list[str],
        *,
        refresh_token: bool,
    ) -> Response:
        # web-server#exchange-authorization-code: access_token, expires_in, refresh_token,
        # scope (space separated), token_type "Bearer", id_token when openid was granted.
        access = self.accounts.issue_access_token(grant, scopes)
        body: dict[str, Any] = {
            "access_token": access.token,
            "expires_in": ACCESS_TOKEN_LIFETIME,
        }
        if refresh_token:
            body["refresh_token"] = self.accounts.issue_refresh_token(grant, scopes).token
        body["scope"] = " ".join(scopes)
        body["token_type"] = "Bearer"
        if "openid" in scopes:
            body["id_token"] = self._id_token(client, user, scopes)
        return _json(body)

    def _id_token(self, client: OAuthClient, user: GoogleUser, scopes: list[str]) -> str:
        # developers.google.com/identity/openid-connect/openid-connect#an-id-tokens-payload
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "https://accounts.google.com",
            "azp": client.client_id,
            "aud": client.client_id,
            "sub": str(int(hashlib.sha256(user.address.encode()).hexdigest()[:15], 16)),
            "iat": now,
            "exp": now + 3600,
        }
        if user.workspace_domain:
            claims["hd"] = user.workspace_domain
        if "https://www.googleapis.com/auth/userinfo.email" in scopes:
            claims.update({"email": user.address, "email_verified": True})
        if "https://www.googleapis.com/auth/userinfo.profile" in scopes:
            given, _, family = user.name.partition(" ")
            claims.update({"name": user.name, "given_name": given, "family_name": family})
        return jwt.encode(
            claims, _signing_key(), algorithm="RS256", headers={"kid": SIGNING_KEY_ID}
        )

    def _certs(self, request: Request) -> Response:
        # developers.google.com/identity/openid-connect/openid-connect#validatinganidtoken:
        # Google's signing keys as a JWK set.
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(_signing_key().public_key()))
        jwk.update({"kid": SIGNING_KEY_ID, "use": "sig", "alg": "RS256"})
        return _json({"keys": [jwk]})

    def _x509_certs(self, request: Request) -> Response:
        # The other format Google serves its keys in (google-auth's default certs URL for
        # verify_oauth2_token, www.googleapis.com/oauth2/v1/certs): key id -> PEM certificate.
        return _json({SIGNING_KEY_ID: _signing_certificate_pem()})

    # --- revoke endpoint ---------------------------------------------------------------------

    def _revoke(self, request: Request) -> Response:
        """web-server#tokenrevoke: POST with the token as a query parameter or form field; 200
        when revoked (an access token's refresh token goes too), else 400 with an error code."""
        token = request.form.get("token") or request.args.get("token") or ""
        if self.accounts.revoke(token):
            return _json({})
        return _oauth_error(400, "invalid_token", "Token expired or revoked")


# --- responses -------------------------------------------------------------------------------


def _json(body: dict[str, Any], *, status: int = 200) -> Response:
    return Response(
        json.dumps(body, indent=2),
        status=status,
        content_type="application/json; charset=utf-8",
        headers={"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"},
    )


def _oauth_error(status: int, error: str, description: str) -> Response:
    # RFC 6749 section 5.2, as Google sends it: {"error": ..., "error_description": ...}.
    return _json({"error": error, "error_description": description}, status=status)


def _redirect(params: MultiDict[str, str], answer: dict[str, str | None]) -> Response:
    values = {k: v for k, v in answer.items() if v is not None}
    redirect_uri = params["redirect_uri"]
    separator = "&" if "?" in redirect_uri else "?"
    # Google leaves ":" and "/" of scope URLs unescaped and spaces as %20.
    query = urlencode(values, quote_via=quote, safe=":/")
    return Response(status=302, headers={"Location": redirect_uri + separator + query})


def _html(title: str, body: str, *, status: int = 200) -> Response:
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body>{body}</body></html>"
    )
    return Response(page, status=status, content_type="text/html; charset=utf-8")


def _error_page(
    status: int, error: str, message: str, *, title: str = "Authorization Error"
) -> Response:
    """Google's user-facing error page ("Error 400: redirect_uri_mismatch" and the like)."""
    return _html(
        title,
        f"<h1>{html.escape(title)}</h1>"
        f'<p id="error-code">Error {status}: {html.escape(error)}</p>'
        f'<p id="error">{html.escape(message)}</p>',
        status=status,
    )


def _sign_in_page(
    client: OAuthClient, params: MultiDict[str, str], *, error: str | None
) -> Response:
    """Sign-in and consent in one form, posting back to the authorization endpoint with the
    authorization parameters in hidden fields. Inputs are labelled "Email" and "Password", the
    buttons "Allow" and "Cancel", for Playwright's get_by_label / get_by_role."""
    descriptions = {**_api_scopes(), **SCOPE_DESCRIPTIONS}
    scopes = normalize_scopes(params.get("scope", "").split())
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(params[name])}">'
        for name in AUTH_PARAMS
        if name in params
    )
    email_value = params.get("email") or params.get("login_hint", "")
    error_html = f'<p id="error" role="alert">{html.escape(error)}</p>' if error else ""
    permissions = "".join(
        f"<li>{html.escape(descriptions.get(s, s))} <code>{html.escape(s)}</code></li>"
        for s in scopes
    )
    return _html(
        "Sign in - Google Accounts",
        f"<h1>Sign in</h1><p>to continue to {html.escape(client.name)}</p>{error_html}"
        f'<form method="post" action="{AUTH_PATH}">{hidden}'
        '<label for="email">Email</label>'
        f'<input id="email" name="email" type="email" value="{html.escape(email_value)}" '
        'autocomplete="username">'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" value="" '
        'autocomplete="current-password">'
        f"<h2>{html.escape(client.name)} wants to access your Google Account</h2>"
        f'<ul id="scopes">{permissions}</ul>'
        '<label for="decline">Permissions to leave out (unticked)</label>'
        '<input id="decline" name="decline" type="text" value="">'
        '<button id="allow" type="submit" name="action" value="allow">Allow</button>'
        '<button id="cancel" type="submit" name="action" value="cancel">Cancel</button>'
        "</form>",
    )


_INPUT = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r'\b(name|value)="([^"]*)"')


def form_fields(page: str) -> dict[str, str]:
    """Every input of the sign-in page as name -> value (hidden authorization parameters, the
    prefilled email, an empty password): set "password" and "action" ("allow" or "cancel") and
    POST it to the authorization endpoint, as a browser would."""
    fields: dict[str, str] = {}
    for tag in _INPUT.findall(page):
        attributes = dict(_ATTRIBUTE.findall(tag))
        if "name" in attributes:
            fields[html.unescape(attributes["name"])] = html.unescape(attributes.get("value", ""))
    return fields
