#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    if sys.argv[1:2] == ["generate_keys"]:
        # Before the settings load: they refuse to, on exactly the secrets this replaces.
        from crm.core.management.commands.generate_keys import Command

        Command().run_from_argv(sys.argv)
        sys.exit(0)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
