"""Parse a batch of raw messages on every core.

Parsing is the import's main cost and pure Python, so threads would not help (the GIL); a small
fork-based process pool does. Where a pool cannot be made (one core, no fork, a daemonic
process such as a Celery prefork child), parsing runs in this process: same results, slower.
A Celery worker started with `--pool threads` or `--pool solo` parses on every core.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from types import TracebackType

from django.db import connections

from mailsync.parsing import MessageRejected, ParsedMessage, parse_message

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
MIN_BATCH_FOR_POOL = 32  # below this, starting work in other processes costs more than it saves


def parse_or_reason(raw: bytes) -> ParsedMessage | str:
    """A ParsedMessage, or the reason the message was rejected (picklable either way)."""
    try:
        return parse_message(raw)
    except MessageRejected as rejection:
        return rejection.reason


def _worker_setup() -> None:
    """Runs first in each forked parse worker."""
    _die_with_parent()
    _drop_inherited_database_sockets()


def _die_with_parent() -> None:
    # Linux: the kernel kills this worker when its parent dies (a Celery worker killed with
    # SIGKILL), so no orphan outlives it holding resources.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before the line above took effect
        os._exit(0)


def _drop_inherited_database_sockets() -> None:
    # A fork copies the parent's open database sockets. Closing our copies (the file
    # descriptors only: nothing is sent) lets the parent's sessions end when the parent ends.
    for connection in connections.all(initialized_only=True):
        raw = connection.connection
        if raw is not None:
            with contextlib.suppress(Exception):
                os.close(raw.fileno())


class ParsePool:
    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> ParsePool:
        cores = os.cpu_count() or 1
        # A Celery prefork child is daemonic, and daemonic processes may not have children.
        daemonic = multiprocessing.current_process().daemon
        if cores > 1 and not daemonic and "fork" in multiprocessing.get_all_start_methods():
            try:
                self._pool = ProcessPoolExecutor(
                    max_workers=cores,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=_worker_setup,
                )
            except (AssertionError, OSError, ValueError) as error:  # e.g. a daemonic process
                logger.info("parsing in one process: %s", error)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def parse_later(self, raws: list[bytes]) -> Callable[[], list[ParsedMessage | str]]:
        """Start parsing now; the returned call waits for the results, in order.

        The caller stores the previous batch meanwhile, so parsing and writing overlap.
        """
        if self._pool is None or len(raws) < MIN_BATCH_FOR_POOL:
            results = [parse_or_reason(raw) for raw in raws]
            return lambda: results
        chunk = max(1, len(raws) // (4 * (os.cpu_count() or 1)))
        try:
            pending = self._pool.map(parse_or_reason, raws, chunksize=chunk)  # submits all
        except (AssertionError, OSError, RuntimeError) as error:  # workers could not start
            logger.info("parsing in one process: %s", error)
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
            return self.parse_later(raws)
        return lambda: list(pending)
