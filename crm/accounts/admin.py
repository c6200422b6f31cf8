from django.contrib import admin

from crm.accounts.models import Account, AccountDomain


class AccountDomainInline(admin.TabularInline):  # type: ignore[type-arg]
    model = AccountDomain
    extra = 0


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "website", "owner", "updated_at")
    search_fields = ("name", "website", "domains__domain")
    list_select_related = ("owner",)
    autocomplete_fields = ("owner",)
    inlines = [AccountDomainInline]


@admin.register(AccountDomain)
class AccountDomainAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("domain", "account")
    search_fields = ("domain", "account__name")
    list_select_related = ("account",)
