from django.apps import AppConfig


class MailsyncConfig(AppConfig):
    name = "mailsync"
    verbose_name = "Mailbox sync"
