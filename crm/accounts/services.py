from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.accounts.models import Account, AccountDomain
from crm.core.addresses import clean_domain
from hierarchy.models import User


def clean_domains(raw_domains: Sequence[str], *, account: Account | None = None) -> list[str]:
    """Canonical domains, each checked free for this account; errors name the culprit."""
    domains: list[str] = []
    for raw in raw_domains:
        domain = clean_domain(raw)
        if domain not in domains:
            domains.append(domain)
    taken = AccountDomain.objects.filter(domain__in=domains).select_related("account")
    if account is not None:
        taken = taken.exclude(account=account)
    errors = [f"{d.domain} already belongs to {d.account.name}." for d in taken]
    if errors:
        raise ValidationError({"domains": errors})
    return domains


@transaction.atomic
def account_create(
    *, name: str, website: str = "", domains: Sequence[str] = (), owner: User | None = None
) -> Account:
    account = Account(name=name.strip(), website=website.strip(), owner=owner)
    account.full_clean()
    clean = clean_domains(domains)
    account.save()
    AccountDomain.objects.bulk_create(AccountDomain(account=account, domain=d) for d in clean)
    return account


@transaction.atomic
def account_update(
    *,
    account: Account,
    name: str,
    website: str = "",
    domains: Sequence[str] = (),
    owner: User | None = None,
) -> Account:
    account.name, account.website, account.owner = name.strip(), website.strip(), owner
    account.full_clean()
    clean = clean_domains(domains, account=account)
    account.save(update_fields=["name", "website", "owner", "updated_at"])
    account.domains.exclude(domain__in=clean).delete()
    existing = set(account.domains.values_list("domain", flat=True))
    AccountDomain.objects.bulk_create(
        AccountDomain(account=account, domain=d) for d in clean if d not in existing
    )
    return account


def account_delete(*, account: Account) -> None:
    account.delete()
