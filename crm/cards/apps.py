from django.apps import AppConfig


class CardsConfig(AppConfig):
    name = "crm.cards"
    label = "cards"
