from django.apps import AppConfig


class HierarchyConfig(AppConfig):
    name = "hierarchy"
    verbose_name = "Users and hierarchy"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from hierarchy import signals

        signals.connect()
        post_migrate.connect(_ensure_support_group, dispatch_uid="support-group")


def _ensure_support_group(**_: object) -> None:
    from hierarchy.services import support_group_ensure

    support_group_ensure()
