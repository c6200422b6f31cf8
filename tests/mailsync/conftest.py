# The real test servers (Dovecot, SMTP) for every mailsync test.
from tests.servers.conftest_fixtures import dovecot, dovecot_plain, smtp_server  # noqa: F401
