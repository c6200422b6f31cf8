# The real test servers for the API tests that send mail (the outbox).
from tests.servers.conftest_fixtures import dovecot, smtp_server  # noqa: F401
