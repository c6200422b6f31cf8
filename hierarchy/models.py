from typing import ClassVar

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
