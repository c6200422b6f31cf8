from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from crm.contacts.models import Contact, ContactEmail
from mailsync.card_links import card_links_refresh_contacts


class ContactEmailInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ContactEmail
    extra = 0


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("full_name", "title", "account", "owner", "updated_at")
    search_fields = ("first_name", "last_name", "emails__address", "account__name")
    list_select_related = ("account", "owner")
    autocomplete_fields = ("account", "owner")
    inlines = [ContactEmailInline]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Admin writes addresses and the account without the contact services: the cards'
        # links follow here.
        super().save_related(request, form, formsets, change)
        card_links_refresh_contacts([form.instance.pk])


@admin.register(ContactEmail)
class ContactEmailAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("address", "contact", "is_primary")
    search_fields = ("address",)
    list_select_related = ("contact",)

    def save_model(self, request: HttpRequest, obj: ContactEmail, form: Any, change: bool) -> None:
        previous = ContactEmail.objects.filter(pk=obj.pk).values_list("contact_id", flat=True)
        contacts = {obj.contact_id, *previous}  # an address moved to another contact too
        super().save_model(request, obj, form, change)
        card_links_refresh_contacts(contacts)

    def delete_model(self, request: HttpRequest, obj: ContactEmail) -> None:
        super().delete_model(request, obj)
        card_links_refresh_contacts([obj.contact_id])

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        contacts = set(queryset.values_list("contact_id", flat=True))
        super().delete_queryset(request, queryset)
        card_links_refresh_contacts(contacts)
