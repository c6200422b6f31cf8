from django.apps import AppConfig


class HierarchyConfig(AppConfig):
    name = "hierarchy"
    verbose_name = "Users and hierarchy"

    def ready(self) -> None:
        from hierarchy import signals

        signals.connect()
