"""Sync a team's repositories (and members) through start_sync, queued or in the foreground."""

from django.core.management.base import BaseCommand, CommandError

from integrations.github import errors
from integrations.github.client import GitHubClient
from integrations.management.commands._common import get_team, print_summary
from integrations.models import SyncRun, TrackedRepository
from integrations.sync.repositories import track_repositories
from integrations.sync.runner import run_sync
from integrations.sync.start import SyncNotStarted, start_sync


class Command(BaseCommand):
    help = "Start a sync of a team's repositories. Untracked repositories named with --repos are tracked first."

    def add_arguments(self, parser):
        parser.add_argument("team", help="team slug, name or id")
        parser.add_argument("--repos", nargs="*", default=None, help="OWNER/NAME ... (default: every tracked one)")
        parser.add_argument("--full", action="store_true", help="fetch every pull request again")
        parser.add_argument("--no-members", action="store_true", help="skip the organisation's members")
        parser.add_argument("--inline", action="store_true", help="run in this process and print the summary")

    def handle(self, *, team, repos, full, no_members, inline, **options):
        team = get_team(team)
        repositories = self.resolve(team, repos)
        try:
            run = start_sync(
                team,
                repositories,
                reason=SyncRun.Reason.CLI,
                full=full,
                include_members=not no_members,
                enqueue=not inline,
            )
        except SyncNotStarted as exc:
            raise CommandError(str(exc)) from None
        if not inline:
            run.refresh_from_db()
            self.stdout.write(
                f"run {run.pk} queued (message {run.message_id or '-'}) for {len(repositories)} repositories"
            )
            return
        print_summary(self.stdout, run_sync(run.pk, message_id="inline"))

    def resolve(self, team, names):
        tracked = TrackedRepository.objects.filter(team=team)
        if names is None:
            if tracked.exists():
                return list(tracked.order_by("full_name"))
            return self.fetch(team, None)  # nothing tracked yet: every repository of the organisation
        known = {r.full_name: r for r in tracked.filter(full_name__in=names)}
        missing = [n for n in names if n not in known]
        return list(known.values()) + (self.fetch(team, missing) if missing else [])

    def fetch(self, team, names):
        integration = getattr(team, "github", None)
        if integration is None:
            raise CommandError(f"Team {team.slug} has no GitHub connection; run connect_github first.")
        try:
            with GitHubClient(integration.get_access_token()) as client:
                if names is None:
                    found = list(client.iter_org_repos(integration.organization_login))
                else:
                    found = [client.get_repo(n) for n in names]
        except errors.GitHubError as exc:
            raise CommandError(str(exc)) from None
        return track_repositories(team, found)
