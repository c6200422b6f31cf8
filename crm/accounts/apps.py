from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "crm.accounts"
    label = "accounts"
