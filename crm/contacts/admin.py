from django.contrib import admin

from crm.contacts.models import Contact, ContactEmail


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


@admin.register(ContactEmail)
class ContactEmailAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("address", "contact", "is_primary")
    search_fields = ("address",)
    list_select_related = ("contact",)
