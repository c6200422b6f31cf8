import functools
import zoneinfo
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from mptt.managers import TreeManager
from mptt.models import MPTTModel, TreeForeignKey


class VisibilityLevel(models.IntegerChoices):
    OWN = 0, "0 - own mailbox only"
    EMPLOYEES = 1, "1 - own and employees"
    EQUALS = 2, "2 - own, employees and equals"
    EQUALS_EMPLOYEES = 3, "3 - own, employees, equals and their employees"
    EVERYONE = 4, "4 - everyone"


# Areas of the IANA database people live in; "US/Eastern", "Etc/GMT+5" and the like are aliases.
_TIME_ZONE_AREAS = {"Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia"}
_TIME_ZONE_AREAS |= {"Europe", "Indian", "Pacific"}


@functools.cache
def _area_zones() -> frozenset[str]:
    # available_timezones() walks the tzdata files: once per process is enough.
    return frozenset(
        n for n in zoneinfo.available_timezones() if n.split("/")[0] in _TIME_ZONE_AREAS
    )


def time_zone_choices() -> list[tuple[str, str]]:
    """The IANA zones a user may pick, read when asked so a tzdata update needs no migration."""
    names = _area_zones() | {"UTC", settings.TIME_ZONE}
    return [(name, name.replace("_", " ")) for name in sorted(names)]


def default_time_zone() -> str:
    return str(settings.TIME_ZONE)


class UserManager(TreeManager, DjangoUserManager["User"]):
    """Tree queries from django-mptt plus create_user/create_superuser from Django."""


class User(MPTTModel, AbstractUser):
    """A CRM user and a node of the company tree: `parent` is the user's manager."""

    parent = TreeForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reports",
        verbose_name="manager",
    )
    visibility_level = models.PositiveSmallIntegerField(
        choices=VisibilityLevel.choices, default=VisibilityLevel.OWN
    )
    # A sync-only user holds a second mailbox; it cannot log in and sits in the tree like anyone.
    is_sync_only = models.BooleanField(default=False)
    # Times are shown, and typed times read, in this zone (crm.core.middleware activates it).
    time_zone = models.CharField(
        max_length=64, choices=time_zone_choices, default=default_time_zone
    )

    objects: ClassVar[UserManager] = UserManager()

    class MPTTMeta:
        order_insertion_by = ["username"]

    class Meta:
        ordering = ["first_name", "last_name", "username"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username
