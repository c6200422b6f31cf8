"""The API's list queries, composed from the selectors so the API lists what the pages list.

DRF's generic SearchFilter/OrderingFilter are not used: search and sort belong to the selectors.
"""

from django.db.models import QuerySet

from crm.accounts.models import Account
from crm.accounts.selectors import account_list
from crm.activities.models import Meeting, Task
from crm.activities.selectors import (
    meetings_for_account,
    meetings_for_contact,
    tasks_for_account,
    tasks_for_contact,
)
from crm.contacts.models import Contact
from crm.contacts.selectors import contact_list


def filter_contacts(
    *, search: str = "", ordering: str = "name", account: int | None = None
) -> QuerySet[Contact]:
    contacts = contact_list(search=search, sort=ordering)
    if account is not None:
        contacts = contacts.filter(account_id=account)
    return contacts


def filter_accounts(*, search: str = "", ordering: str = "name") -> QuerySet[Account]:
    # Domains are rendered for every account: one query for the page instead of one per row.
    return account_list(search=search, sort=ordering).prefetch_related("domains")


def filter_meetings(*, contact: int | None = None, account: int | None = None) -> QuerySet[Meeting]:
    meetings = (
        meetings_for_contact(contact)
        if contact is not None
        else Meeting.objects.select_related("owner", "account")
    )
    if account is not None:
        # A subquery, because meetings_for_account is already a distinct union.
        meetings = meetings.filter(pk__in=meetings_for_account(account).values("pk"))
    return meetings.prefetch_related("contacts")


def filter_tasks(*, contact: int | None = None, account: int | None = None) -> QuerySet[Task]:
    tasks = (
        tasks_for_contact(contact)
        if contact is not None
        else Task.objects.select_related("owner", "account")
    )
    if account is not None:
        tasks = tasks.filter(pk__in=tasks_for_account(account).values("pk"))
    return tasks.prefetch_related("contacts")
