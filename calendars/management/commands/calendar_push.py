"""Push one user's flagged meetings and tasks now, in the foreground (operators, and the test
that kills a push half-way)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from calendars.models import ItemKind
from calendars.push import push
from crm.activities.models import Meeting, Task
from hierarchy.models import User


class Command(BaseCommand):
    help = "Push a user's meetings and tasks to their external calendar now; prints the states."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        owner = User.objects.filter(username=options["username"]).first()
        if owner is None:
            raise CommandError(f"No user {options['username']!r}.")
        states: Counter[str] = Counter()
        for kind, model in ((ItemKind.MEETING, Meeting), (ItemKind.TASK, Task)):
            flagged = model.objects.filter(owner=owner, show_in_external_calendar=True)
            for item_id in flagged.order_by("pk").values_list("pk", flat=True):
                record = push(kind, item_id)
                states[record.state if record is not None else "none"] += 1
        self.stdout.write(", ".join(f"{n} {state}" for state, n in sorted(states.items())))
