"""A table of recent sync runs, with their derived states and per-repository progress."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from integrations.management.commands._common import get_team
from integrations.models import SyncRun
from integrations.sync.progress import describe_state, repository_status


class Command(BaseCommand):
    help = "Show recent sync runs with their derived state (stalled included) and each repository's progress."

    def add_arguments(self, parser):
        parser.add_argument("--team", help="only this team (slug, name or id)")
        parser.add_argument("--limit", type=int, default=10, help="how many runs (default 10)")

    def handle(self, *, team, limit, **options):
        runs = SyncRun.objects.select_related("team").order_by("-created_at")
        if team:
            runs = runs.filter(team=get_team(team))
        runs = list(runs[:limit])
        if not runs:
            self.stdout.write("No sync runs yet.")
            return
        now = timezone.now()
        self.stdout.write(f"{'run':>6}  {'team':<16} {'reason':<10} {'state':<11} {'heartbeat':>9}  reason / note")
        for run in runs:
            state = describe_state(run, now)
            age = f"{int((now - run.heartbeat_at).total_seconds())} s" if run.heartbeat_at and not run.outcome else "-"
            self.stdout.write(
                f"{run.pk:>6}  {run.team.slug[:16]:<16} {run.reason:<10} {state.state:<11} {age:>9}  "
                f"{state.reason or run.heartbeat_note}"
            )
            for row in run.repository_rows.select_related("repository").order_by("repository__full_name"):
                total = row.prs_total if row.prs_total is not None else "?"
                error = f"  {row.error}" if row.error else ""
                status = repository_status(run, row)
                self.stdout.write(
                    f"{'':>8}{row.repository.full_name:<40} {status:<11} {row.prs_synced} of {total}{error}"
                )
