# The real test servers (Dovecot, SMTP) and the Microsoft 365 fakes for every mailsync test.
from tests.servers.conftest_fixtures import (  # noqa: F401
    dovecot,
    dovecot_all_mail,
    dovecot_plain,
    dovecot_recorded,
    google,
    microsoft,
    smtp_server,
)
