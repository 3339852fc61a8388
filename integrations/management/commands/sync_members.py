"""Sync a team's organisation members through start_sync, in the foreground."""

from django.core.management.base import BaseCommand, CommandError

from integrations.management.commands._common import get_team, print_summary
from integrations.models import SyncRun
from integrations.sync.runner import run_sync
from integrations.sync.start import SyncNotStarted, start_sync


class Command(BaseCommand):
    help = "Sync the members of a team's GitHub organisation."

    def add_arguments(self, parser):
        parser.add_argument("--team", required=True)

    def handle(self, *, team, **options):
        team = get_team(team)
        try:
            run = start_sync(team, [], reason=SyncRun.Reason.CLI, include_members=True, enqueue=False)
        except SyncNotStarted as exc:
            raise CommandError(str(exc)) from None
        print_summary(self.stdout, run_sync(run.pk, message_id="inline"))
