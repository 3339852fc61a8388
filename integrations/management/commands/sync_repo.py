"""Sync one tracked repository through start_sync."""

from django.core.management.base import BaseCommand, CommandError

from integrations.management.commands._common import get_team, print_summary
from integrations.models import SyncRun, TrackedRepository
from integrations.sync.runner import run_sync
from integrations.sync.start import SyncNotStarted, start_sync


class Command(BaseCommand):
    help = "Sync one repository's pull requests and reviews (in the foreground unless --queue)."

    def add_arguments(self, parser):
        parser.add_argument("full_name", help="OWNER/NAME")
        parser.add_argument("--team", help="needed when several teams track the repository")
        parser.add_argument("--full", action="store_true")
        parser.add_argument("--queue", action="store_true", help="enqueue for a worker instead of running here")

    def handle(self, *, full_name, team, full, queue, **options):
        repos = TrackedRepository.objects.filter(full_name=full_name)
        if team:
            repos = repos.filter(team=get_team(team))
        repos = list(repos.select_related("team"))
        if not repos:
            raise CommandError(f"{full_name} is not tracked by {'that team' if team else 'any team'}.")
        if len(repos) > 1:
            raise CommandError(f"{full_name} is tracked by several teams; pass --team.")
        repo = repos[0]
        try:
            run = start_sync(
                repo.team, [repo], reason=SyncRun.Reason.CLI, full=full, include_members=False, enqueue=queue
            )
        except SyncNotStarted as exc:
            raise CommandError(str(exc)) from None
        if queue:
            self.stdout.write(f"run {run.pk} queued")
            return
        print_summary(self.stdout, run_sync(run.pk, message_id="inline"))
