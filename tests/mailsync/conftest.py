# The real test servers (Dovecot, SMTP) for every mailsync test.
from tests.servers.conftest_fixtures import (  # noqa: F401
    dovecot,
    dovecot_all_mail,
    dovecot_plain,
    dovecot_recorded,
    smtp_server,
)
