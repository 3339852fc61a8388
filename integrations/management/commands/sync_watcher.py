"""The watcher process (production): stall pushes and automatic recovery, outside the workers."""

from django.core.management.base import BaseCommand

from integrations.sync.watcher import Watcher


class Command(BaseCommand):
    help = (
        "Watch active sync runs: push stall transitions to open pages and restart, once, a run whose worker "
        "died while a live worker exists. Runs outside the workers so it survives them; several may run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=None, help="seconds between passes (SYNC_WATCH_SECONDS)")
        parser.add_argument("--no-recover", action="store_true", help="only push stall transitions")

    def handle(self, *, interval, no_recover, **options):
        watcher = Watcher(auto_recover=False if no_recover else None)
        try:
            watcher.run_forever(interval=interval)
        except KeyboardInterrupt:
            pass
