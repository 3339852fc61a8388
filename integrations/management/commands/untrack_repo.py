"""Stop tracking one repository of a team, deleting its synced pull requests and reviews."""

from django.core.management.base import BaseCommand, CommandError

from integrations.management.commands._common import get_team
from integrations.models import TrackedRepository
from integrations.tracking import UntrackRefused, untrack_repository


class Command(BaseCommand):
    help = "Stop tracking a repository: its pull requests and reviews are deleted. Refused while a sync includes it."

    def add_arguments(self, parser):
        parser.add_argument("full_name", help="OWNER/NAME")
        # Required, not guessed: several teams may track the same repository, and this deletes data.
        parser.add_argument("--team", required=True, help="team slug, name or id")

    def handle(self, *, full_name, team, **options):
        team = get_team(team)
        repository = TrackedRepository.objects.filter(team=team, full_name__iexact=full_name).first()
        if repository is None:
            raise CommandError(f"{full_name} is not tracked by the team {team.slug}.")
        try:
            untracked = untrack_repository(team, repository)
        except UntrackRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{untracked.full_name} is no longer tracked by {team.slug}: "
            f"{untracked.pull_requests} pull requests and {untracked.reviews} reviews deleted."
        )
