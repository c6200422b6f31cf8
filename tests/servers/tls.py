"""TLS for the fake login services (Microsoft's and Google's): one test CA per process.

The OAuth client libraries refuse plain-http token endpoints (MSAL's authority, oauthlib's
`is_secure_transport`), so the identity fakes serve HTTPS with a certificate from a `trustme` CA.
`ca_pem_path` is that CA as a PEM file, for `REQUESTS_CA_BUNDLE`: requests lets the environment
override `verify=`, so the environment is where the CA must go.
"""

from __future__ import annotations

import ssl
import tempfile
from functools import cache
from pathlib import Path

import trustme

HOST = "127.0.0.1"


@cache
def local_ca() -> tuple[trustme.CA, str]:
    """One CA per test process (creating one costs more than a test): (CA, path of its PEM)."""
    ca = trustme.CA()
    directory = tempfile.mkdtemp(prefix="fake-login-ca-")
    pem_path = str(Path(directory) / "ca.pem")
    ca.cert_pem.write_to_path(pem_path)
    return ca, pem_path


@cache
def _server_cert() -> trustme.LeafCert:
    ca, _ = local_ca()
    return ca.issue_cert(HOST, "localhost")


def server_context() -> ssl.SSLContext:
    """A server-side TLS context presenting a certificate for 127.0.0.1 and localhost."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _server_cert().configure_cert(context)
    return context
