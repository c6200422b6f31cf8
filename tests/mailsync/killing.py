"""A send worker (`manage.py outbox_send`) in another process, SIGKILLed by the test server at
the moment it accepted the message: the worker never learns the answer nor commits it."""

from __future__ import annotations

import subprocess
from datetime import timedelta

from django.utils import timezone

from mailsync.models import OutgoingMessage
from tests.calendars.killing import manage_py_process


class KilledOnAccept:
    """`hook` goes to the server's on-accept; `run(outgoing_id)` starts the worker and waits for
    it to end (killed, or finished if the server never accepted)."""

    def __init__(self, environment: dict[str, str] | None = None) -> None:
        self.worker: subprocess.Popen[bytes] | None = None
        self.killed = False
        self._environment = environment or {}

    def hook(self, *_: object) -> None:
        if self.worker is not None and not self.killed:
            self.worker.kill()
            self.worker.wait()
            self.killed = True

    def run(self, outgoing_id: int) -> None:
        self.worker = manage_py_process(["outbox_send", str(outgoing_id)], self._environment)
        self.worker.wait(timeout=60)
        if not self.killed:
            row = OutgoingMessage.objects.get(pk=outgoing_id)
            raise AssertionError(f"the worker ended without being killed: {row.last_error}")


def claim_expired(outgoing_id: int, *, ago: timedelta = timedelta(minutes=10)) -> None:
    """What time does to a dead worker's claim (and to the provider's filing lag)."""
    row = OutgoingMessage.objects.get(pk=outgoing_id)
    OutgoingMessage.objects.filter(pk=outgoing_id).update(
        lease_until=timezone.now() - timedelta(seconds=1),
        handed_over_at=(row.handed_over_at - ago) if row.handed_over_at else None,
    )
