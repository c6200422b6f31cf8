from django.db.models import QuerySet

from crm.activities.models import Meeting, Task


def meetings_for_contact(contact_id: int) -> QuerySet[Meeting]:
    return Meeting.objects.filter(contacts__id=contact_id).select_related("owner", "account")


def tasks_for_contact(contact_id: int) -> QuerySet[Task]:
    return Task.objects.filter(contacts__id=contact_id).select_related("owner", "account")


def meetings_for_account(account_id: int) -> QuerySet[Meeting]:
    return (
        (
            Meeting.objects.filter(account_id=account_id)
            | Meeting.objects.filter(contacts__account_id=account_id)
        )
        .distinct()
        .select_related("owner", "account")
    )


def tasks_for_account(account_id: int) -> QuerySet[Task]:
    return (
        (
            Task.objects.filter(account_id=account_id)
            | Task.objects.filter(contacts__account_id=account_id)
        )
        .distinct()
        .select_related("owner", "account")
    )
