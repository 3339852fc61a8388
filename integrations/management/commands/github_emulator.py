"""``python manage.py github_emulator``: run the local GitHub emulator.

A thin wrapper: the emulator itself (``integrations.emulator``) does not
depend on Django.
"""

from django.core.management.base import BaseCommand

from integrations.emulator import cli


class Command(BaseCommand):
    help = "Serve a seeded local stand-in for api.github.com and github.com OAuth."

    def add_arguments(self, parser):
        cli.add_arguments(parser)

    def handle(self, *args, **options):
        options["log_requests"] = options.get("log_requests") or options["verbosity"] >= 2

        def write(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        cli.serve(options, write)
