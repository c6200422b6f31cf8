from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "crm.contacts"
    label = "contacts"
