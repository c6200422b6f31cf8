from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

WORKER_HEARTBEAT_KEY = "postcard:worker-heartbeat"


@shared_task(ignore_result=True)
def worker_heartbeat() -> None:
    """Scheduled by beat: proves broker, beat and worker all run (shown to operators)."""
    cache.set(WORKER_HEARTBEAT_KEY, timezone.now().isoformat(), timeout=None)
