# The real CalDAV servers (Radicale, Xandikos) for every calendar test.
from tests.servers.conftest_fixtures import google, microsoft, radicale, xandikos  # noqa: F401
