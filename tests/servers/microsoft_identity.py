"""A fake Microsoft identity platform (Entra ID v2.0 endpoints) over HTTPS, for MSAL.

    identity = IdentityServer(tenant)   # serving https://127.0.0.1:PORT/{tenant_id}
    ...msal.ConfidentialClientApplication(client_id, client_credential=secret,
           authority=identity.authority, instance_discovery=False)...
    identity.close()

MSAL refuses an authority that is not https (msal/authority.py), so this serves TLS with a
certificate from a `trustme` CA; `ca_pem_path` is that CA for `REQUESTS_CA_BUNDLE` (requests lets
the environment override `verify=`, so the environment is where the CA must go).

It speaks the documented wire format of the authorization-code flow with PKCE and of refresh
tokens (learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow), including the
errors MSAL hands back as dicts. The sign-in page is plain HTML a browser test can fill in
("Email or phone", "Password", "Sign in and accept" / "Cancel"). State lives in the shared
`MicrosoftTenant`; its switches (admin approval, disabled app, failing refresh, unreachable)
change what this server answers.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.datastructures import MultiDict
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.servers.microsoft_tenant import (
    OIDC_SCOPES,
    App,
    IdentityRequest,
    MicrosoftTenant,
    ServedInThread,
    User,
    new_guid,
    utcnow,
)
from tests.servers.tls import local_ca, server_context

HOST = "127.0.0.1"
# Form fields never written to the request log.
SECRET_FIELDS = frozenset({"client_secret", "password", "client_assertion"})
SIGNING_KEY_ID = "fake-entra-signing-key"


@cache
def _signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class _Handler(WSGIRequestHandler):
    """Werkzeug's handler, quiet, and able to drop a connection unanswered ("unreachable")."""

    def handle_one_request(self) -> None:
        tenant: MicrosoftTenant = self.server.tenant  # type: ignore[attr-defined]
        if tenant.unreachable == "reset":
            self.close_connection = True
            return
        super().handle_one_request()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class IdentityServer:
    """The HTTPS login service for one `MicrosoftTenant`. See the module docstring."""

    def __init__(self, tenant: MicrosoftTenant) -> None:
        self.tenant = tenant
        _, self.ca_pem_path = local_ca()
        context = server_context()
        # make_server binds the socket now, so the port is ours before the thread starts.
        self._server: BaseWSGIServer = make_server(
            HOST,
            0,
            self._wsgi,
            threaded=True,
            request_handler=_Handler,
            ssl_context=context,
        )
        self._server.tenant = tenant  # type: ignore[attr-defined]
        self.port = self._server.server_port
        self.base_url = f"https://{HOST}:{self.port}"
        self.authority = f"{self.base_url}/{tenant.tenant_id}"
        self._serving = ServedInThread(self._server)

    def close(self) -> None:
        self._serving.close()

    # --- plumbing ----------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        response = self._route(request)
        form = {k: v for k, v in request.form.items() if k not in SECRET_FIELDS}
        with self.tenant.lock:
            self.tenant.identity_requests.append(
                IdentityRequest(request.method, request.path, response.status_code, form)
            )
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        if self.tenant.unreachable == "503":
            return Response("Service Unavailable", status=503, content_type="text/plain")
        parts = request.path.strip("/").split("/")
        if not parts or not self._known_tenant(parts[0]):
            return self._oauth_error(
                400, "invalid_tenant", 90002, f"Tenant '{parts[0] if parts else ''}' not found."
            )
        routes: dict[tuple[str, str], Callable[[Request, str], Response]] = {
            ("GET", "v2.0/.well-known/openid-configuration"): self._openid_configuration,
            ("GET", "discovery/v2.0/keys"): self._keys,
            ("GET", "oauth2/v2.0/authorize"): self._authorize_page,
            ("POST", "oauth2/v2.0/authorize"): self._sign_in,
            ("POST", "oauth2/v2.0/token"): self._token,
        }
        handler = routes.get((request.method, "/".join(parts[1:])))
        if handler is None:
            return Response("Not Found", status=404, content_type="text/plain")
        return handler(request, parts[0])

    def _known_tenant(self, segment: str) -> bool:
        # learn.microsoft.com/entra/identity-platform/v2-protocols#endpoints: the tenant segment
        # is the tenant id, a verified domain, "organizations" or "common".
        return segment.lower() in {self.tenant.tenant_id, "organizations", "common"}

    def _issuer(self, tenant_segment: str) -> str:
        return f"{self.base_url}/{tenant_segment}/v2.0"

    # --- discovery ---------------------------------------------------------------------------

    def _openid_configuration(self, request: Request, segment: str) -> Response:
        # learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-
        # configuration-document-uri. MSAL reads authorization_endpoint, token_endpoint,
        # issuer and device_authorization_endpoint (msal/authority.py). For "common" and
        # "organizations" Entra's issuer carries a literal {tenantid} placeholder.
        base = f"{self.base_url}/{segment}"
        issuer_tenant = self.tenant.tenant_id if segment == self.tenant.tenant_id else "{tenantid}"
        return _json(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": self._issuer(issuer_tenant),
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "claims_supported": [
                    "sub",
                    "iss",
                    "cloud_instance_name",
                    "cloud_instance_host_name",
                    "cloud_graph_host_name",
                    "msgraph_host",
                    "aud",
                    "exp",
                    "iat",
                    "auth_time",
                    "acr",
                    "nonce",
                    "preferred_username",
                    "name",
                    "tid",
                    "ver",
                    "at_hash",
                    "c_hash",
                    "email",
                ],
                "kerberos_endpoint": f"{base}/kerberos",
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
                "rbac_url": "https://pas.windows.net",
            }
        )

    def _keys(self, request: Request, segment: str) -> Response:
        # learn.microsoft.com/entra/identity-platform/access-tokens#validate-the-signature:
        # the signing keys as a JWK set, each with kid and use "sig".
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(_signing_key().public_key()))
        jwk.update({"kid": SIGNING_KEY_ID, "use": "sig", "issuer": self._issuer(segment)})
        return _json({"keys": [jwk]})

    # --- authorize ---------------------------------------------------------------------------

    def _check_client(self, params: MultiDict[str, str]) -> Response | App:
        """Unknown app or redirect URI: Entra shows an error page and never redirects, since
        the redirect URI cannot be trusted (learn.microsoft.com/entra/identity-platform/
        reference-error-codes: AADSTS700016, AADSTS50011)."""
        app = self.tenant.apps.get(params.get("client_id", ""))
        if app is None:
            return _error_page(
                "AADSTS700016: Application with identifier "
                f"'{params.get('client_id', '')}' was not found in the directory "
                f"'{self.tenant.display_name}'."
            )
        if params.get("redirect_uri") not in app.redirect_uris:
            return _error_page(
                "AADSTS50011: The redirect URI "
                f"'{params.get('redirect_uri', '')}' specified in the request does not match "
                f"the redirect URIs configured for the application '{app.client_id}'."
            )
        return app

    def _authorize_page(self, request: Request, segment: str) -> Response:
        params = request.args
        app = self._check_client(params)
        if isinstance(app, Response):
            return app
        if params.get("response_type") != "code":
            return self._auth_error_redirect(
                params, "unsupported_response_type", "AADSTS70005: response_type is not enabled."
            )
        if params.get("prompt") == "none":
            # v2-oauth2-auth-code-flow#request-an-authorization-code: prompt=none never shows
            # a page; without a session (this fake keeps none) the answer is login_required.
            return self._auth_error_redirect(
                params,
                "login_required",
                "AADSTS50058: A silent sign-in request was sent but no user is signed in.",
            )
        return _sign_in_page(app, params, request.full_path, error=None)

    def _sign_in(self, request: Request, segment: str) -> Response:
        params = request.args
        app = self._check_client(params)
        if isinstance(app, Response):
            return app
        if request.form.get("consent") == "cancel":
            # v2-oauth2-auth-code-flow#error-response: access_denied, the user declined consent.
            return self._auth_error_redirect(
                params,
                "access_denied",
                "AADSTS65004: User declined to consent to access the app.",
            )
        user = self.tenant.find_user(request.form.get("username", ""))
        if user is None or user.password != request.form.get("password"):
            return _sign_in_page(
                app, params, request.full_path, error="Your account or password is incorrect."
            )
        if user.disabled:
            # reference-error-codes: AADSTS50057 UserAccountDisabled, shown on the sign-in page.
            return _sign_in_page(
                app,
                params,
                request.full_path,
                error="AADSTS50057: The user account is disabled.",
                status=400,
            )
        return self._after_sign_in(app, user, params)

    def _after_sign_in(self, app: App, user: User, params: MultiDict[str, str]) -> Response:
        scopes = params.get("scope", "").split()
        with self.tenant.lock:
            if self.tenant.disabled or app.disabled:
                # reference-error-codes: AADSTS7000112 UnauthorizedClientApplicationDisabled.
                return self._auth_error_redirect(
                    params,
                    "unauthorized_client",
                    f"AADSTS7000112: Application '{app.client_id}'({app.display_name}) is "
                    "disabled.",
                )
            granted = user.consent.setdefault(app.client_id, set())
            needs_consent = not {s.lower() for s in scopes} <= {s.lower() for s in granted}
            if needs_consent and self.tenant.admin_approval_required:
                # learn.microsoft.com/entra/identity/enterprise-apps/configure-user-consent:
                # with user consent off, a user cannot grant it; AADSTS90094.
                return self._auth_error_redirect(
                    params,
                    "access_denied",
                    "AADSTS90094: The grant requires admin permission.",
                )
            # The Accept button is the consent prompt: it grants what was asked.
            granted.update(scopes)
        code = self.tenant.issue_code(
            client_id=app.client_id,
            redirect_uri=params["redirect_uri"],
            user_oid=user.oid,
            scopes=scopes,
            nonce=params.get("nonce"),
            code_challenge=params.get("code_challenge"),
            code_challenge_method=params.get("code_challenge_method"),
        )
        # v2-oauth2-auth-code-flow#successful-response: code, state and session_state; MSAL
        # asks for client_info=1 and reads it from this response to route its token request.
        answer = {"code": code.code, "state": params.get("state"), "session_state": new_guid()}
        if params.get("client_info") == "1":
            answer["client_info"] = self._client_info(user)
        return self._redirect(params, answer)

    def _auth_error_redirect(
        self, params: MultiDict[str, str], error: str, description: str
    ) -> Response:
        # v2-oauth2-auth-code-flow#error-response: error, error_description, state.
        return self._redirect(
            params, {"error": error, "error_description": description, "state": params.get("state")}
        )

    def _redirect(self, params: MultiDict[str, str], answer: dict[str, str | None]) -> Response:
        values = {k: v for k, v in answer.items() if v is not None}
        redirect_uri = params["redirect_uri"]
        if params.get("response_mode") == "form_post":
            # v2-oauth2-auth-code-flow#request-an-authorization-code: form_post answers with
            # a page that POSTs the values to the redirect URI.
            return _form_post_page(redirect_uri, values)
        separator = "&" if "?" in redirect_uri else "?"
        return Response(
            status=302, headers={"Location": redirect_uri + separator + urlencode(values)}
        )

    def _client_info(self, user: User) -> str:
        # learn.microsoft.com/entra/identity-platform/msal-net-client-info (MSAL's home
        # account id): base64url JSON of uid (object id) and utid (tenant id).
        info = {"uid": user.oid, "utid": self.tenant.tenant_id}
        return _b64url(json.dumps(info).encode())

    # --- token -------------------------------------------------------------------------------

    def _token(self, request: Request, segment: str) -> Response:
        form = request.form
        client = self._authenticate_client(request)
        if isinstance(client, Response):
            return client
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._redeem_code(client, form, segment)
        if grant_type == "refresh_token":
            return self._redeem_refresh_token(client, form, segment)
        return self._oauth_error(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant_type}'.",
        )

    def _authenticate_client(self, request: Request) -> Response | App:
        # v2-oauth2-auth-code-flow#redeem-a-code-for-an-access-token: client_secret in the
        # body (MSAL's way) or HTTP Basic.
        client_id = request.form.get("client_id", "")
        secret = request.form.get("client_secret")
        if request.authorization is not None and request.authorization.type == "basic":
            client_id = request.authorization.username or client_id
            secret = request.authorization.password
        app = self.tenant.apps.get(client_id)
        if app is None:
            return self._oauth_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.tenant.display_name}'.",
            )
        if secret != app.client_secret:
            return self._oauth_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request "
                f"is the client secret value, not the client secret ID, for a secret added to "
                f"app '{app.client_id}'.",
            )
        if app.disabled or self.tenant.disabled:
            return self._oauth_error(
                400,
                "unauthorized_client",
                7000112,
                f"Application '{app.client_id}'({app.display_name}) is disabled.",
            )
        return app

    def _redeem_code(self, app: App, form: MultiDict[str, str], segment: str) -> Response:
        with self.tenant.lock:
            code = self.tenant.codes.get(form.get("code", ""))
            if code is None or code.client_id != app.client_id:
                return self._invalid_grant(
                    9002313, "Invalid request. Request is malformed or invalid."
                )
            if code.redeemed:
                return self._invalid_grant(54005, "OAuth2 Authorization code was already redeemed.")
            if code.expires_at <= utcnow():
                return self._invalid_grant(
                    70008,
                    "The provided authorization code or refresh token has expired due to "
                    "inactivity.",
                )
            if form.get("redirect_uri") != code.redirect_uri:
                return self._invalid_grant(
                    500117,
                    "The reply uri specified in the token request does not match the reply uri "
                    "used to obtain the authorization code.",
                )
            if not _pkce_matches(code.code_challenge, code.code_challenge_method, form):
                # v2-oauth2-auth-code-flow: the code_verifier must hash (S256) to the
                # code_challenge sent to /authorize.
                return self._invalid_grant(
                    501481,
                    "The Code_Verifier does not match the code_challenge supplied in the "
                    "authorization request.",
                )
            code.redeemed = True
            user = self.tenant.users[code.user_oid]
        return self._tokens(app, user, code.scopes, segment, nonce=code.nonce)

    def _redeem_refresh_token(self, app: App, form: MultiDict[str, str], segment: str) -> Response:
        # learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-
        # access-token, failures from reference-error-codes.
        with self.tenant.lock:
            token = self.tenant.refresh_tokens.get(form.get("refresh_token", ""))
            if token is None or token.client_id != app.client_id:
                return self._invalid_grant(
                    9002313, "Invalid request. Request is malformed or invalid."
                )
            user = self.tenant.users[token.user_oid]
            if token.failure == "expired":
                return self._invalid_grant(
                    700082,
                    "The refresh token has expired due to inactivity. The token was issued on "
                    f"{_utc_text(utcnow())} and was inactive for 90.00:00:00.",
                )
            if token.failure == "revoked":
                return self._invalid_grant(
                    50173,
                    "The provided grant has expired due to it being revoked, a fresh auth "
                    "token is needed. The user might have changed or reset their password.",
                )
            if user.disabled:
                return self._invalid_grant(50057, "The user account is disabled.")
            requested = form.get("scope", "").split() or token.scopes
            granted = {s.lower() for s in user.consent.get(app.client_id, set())} | OIDC_SCOPES
            if (
                token.failure == "consent_withdrawn"
                or not {s.lower() for s in requested} <= granted
            ):
                return self._oauth_error(
                    400,
                    "invalid_grant",
                    65001,
                    f"The user or administrator has not consented to use the application with "
                    f"ID '{app.client_id}' named '{app.display_name}'. Send an interactive "
                    "authorization request for this user and resource.",
                    suberror="consent_required",
                )
        return self._tokens(app, user, requested, segment, nonce=None)

    def _tokens(
        self, app: App, user: User, scopes: list[str], segment: str, *, nonce: str | None
    ) -> Response:
        # v2-oauth2-auth-code-flow#successful-response-2: token_type, scope, expires_in,
        # ext_expires_in, access_token, refresh_token (with offline_access), id_token (with
        # openid); client_info because MSAL sends client_info=1.
        lowered = {s.lower() for s in scopes}
        resource_scopes = [s for s in scopes if s.lower() not in OIDC_SCOPES]
        access = self.tenant.issue_access_token(user.oid, app.client_id, resource_scopes)
        granted = resource_scopes + [s for s in ("profile", "openid", "email") if s in lowered]
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(granted),
            "expires_in": self.tenant.access_token_lifetime,
            "ext_expires_in": self.tenant.access_token_lifetime,
            "access_token": access.token,
        }
        if "offline_access" in lowered:
            # Refresh tokens rotate: each redemption answers with a new one.
            body["refresh_token"] = self.tenant.issue_refresh_token(
                user.oid, app.client_id, list(scopes)
            ).token
        if "openid" in lowered:
            body["id_token"] = self._id_token(app, user, lowered, nonce)
        body["client_info"] = self._client_info(user)
        return _json(body)

    def _id_token(self, app: App, user: User, scopes: set[str], nonce: str | None) -> str:
        # learn.microsoft.com/entra/identity-platform/id-token-claims-reference: v2.0 claims.
        # MSAL builds its account from preferred_username and oid (msal/token_cache.py).
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": app.client_id,
            "iss": self._issuer(self.tenant.tenant_id),
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "oid": user.oid,
            "sub": _b64url(hashlib.sha256(f"{user.oid}:{app.client_id}".encode()).digest()),
            "tid": self.tenant.tenant_id,
            "uti": _b64url(secrets.token_bytes(16)),
            "ver": "2.0",
        }
        if nonce:
            claims["nonce"] = nonce
        if "profile" in scopes:
            claims.update({"name": user.display_name, "preferred_username": user.upn})
        if "email" in scopes:
            claims["email"] = user.mail
        return jwt.encode(
            claims, _signing_key(), algorithm="RS256", headers={"kid": SIGNING_KEY_ID}
        )

    def _invalid_grant(self, code: int, message: str) -> Response:
        return self._oauth_error(400, "invalid_grant", code, message)

    def _oauth_error(
        self, status: int, error: str, code: int, message: str, *, suberror: str | None = None
    ) -> Response:
        # v2-oauth2-auth-code-flow#error-response-1: error, error_description ("AADSTSnnn:
        # ..." plus trace and correlation ids), error_codes, timestamp, trace_id,
        # correlation_id, error_uri; suberror for consent (reference-error-codes#suberror).
        trace_id, correlation_id = new_guid(), new_guid()
        now = utcnow()
        body: dict[str, Any] = {
            "error": error,
            "error_description": f"AADSTS{code}: {message} Trace ID: {trace_id} "
            f"Correlation ID: {correlation_id} Timestamp: {_utc_text(now)}Z",
            "error_codes": [code],
            "timestamp": f"{_utc_text(now)}Z",
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{self.base_url}/error?code={code}",
        }
        if suberror:
            body["suberror"] = suberror
        return _json(body, status=status)


def _utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _pkce_matches(challenge: str | None, method: str | None, form: MultiDict[str, str]) -> bool:
    """RFC 7636 section 4.6: S256 compares BASE64URL(SHA256(verifier)) with the challenge."""
    if challenge is None:
        return True
    verifier = form.get("code_verifier", "")
    if (method or "plain") == "plain":
        return secrets.compare_digest(verifier, challenge)
    computed = _b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
    return secrets.compare_digest(computed, challenge)


def _json(body: dict[str, Any], *, status: int = 200) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        content_type="application/json; charset=utf-8",
        headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"},
    )


def _html(body: str, *, status: int = 200) -> Response:
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Sign in to your account</title></head><body>{body}</body></html>"
    )
    return Response(page, status=status, content_type="text/html; charset=utf-8")


def _error_page(message: str) -> Response:
    return _html(
        "<h1>Sign in</h1><p>Sorry, but we're having trouble signing you in.</p>"
        f'<p id="error">{html.escape(message)}</p>',
        status=400,
    )


def _sign_in_page(
    app: App,
    params: MultiDict[str, str],
    action: str,
    *,
    error: str | None,
    status: int = 200,
) -> Response:
    """The sign-in and consent page in one form. The form posts back to the same URL (query
    string included), so the authorize parameters travel with it."""
    scopes = [s for s in params.get("scope", "").split() if s.lower() not in OIDC_SCOPES]
    hint = params.get("login_hint", "")
    error_html = f'<p id="error" role="alert">{html.escape(error)}</p>' if error else ""
    permissions = "".join(f"<li>{html.escape(s)}</li>" for s in scopes)
    return _html(
        f"<h1>Sign in</h1>{error_html}"
        f'<form method="post" action="{html.escape(action)}">'
        '<label for="username">Email or phone</label>'
        f'<input id="username" name="username" type="email" value="{html.escape(hint)}">'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password">'
        f"<h2>Permissions requested</h2><p>{html.escape(app.display_name)} would like to:</p>"
        f'<ul id="permissions">{permissions}</ul>'
        '<button id="accept" type="submit" name="consent" value="accept">'
        "Sign in and accept</button>"
        '<button id="cancel" type="submit" name="consent" value="cancel">Cancel</button>'
        "</form>",
        status=status,
    )


def _form_post_page(redirect_uri: str, values: dict[str, str]) -> Response:
    """response_mode=form_post: an auto-submitting form, with a button for browsers without
    JavaScript (learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow)."""
    fields = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in values.items()
    )
    return _html(
        f'<form method="post" name="hiddenform" action="{html.escape(redirect_uri)}">{fields}'
        "<noscript><p>Script is disabled. Click Submit to continue.</p></noscript>"
        '<button id="submit" type="submit">Submit</button></form>'
        "<script>document.forms.hiddenform.submit();</script>"
    )


def form_fields(page: str) -> dict[str, str]:
    """The hidden fields of a form_post page (for tests that post it themselves)."""
    return {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', page)
    }
