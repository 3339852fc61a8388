"""Store a personal access token for a team (GitHub Enterprise users connect this way)."""

import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.text import slugify

from integrations.github import errors
from integrations.github.client import GitHubClient
from integrations.models import GitHubCredential, GitHubIntegration, Team


class Command(BaseCommand):
    help = "Connect a team to a GitHub organisation with a token read from stdin (never from the command line)."
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("--team", required=True, help="team slug or name (created if missing)")
        parser.add_argument("--org", required=True, help="GitHub organisation login")
        parser.add_argument("--token-stdin", action="store_true", required=True, help="read the token from stdin")

    def handle(self, *, team, org, token_stdin, **options):
        token = (options.get("stdin") or sys.stdin).readline().strip()
        if not token:
            raise CommandError(
                "No token on stdin. Example: connect_github --team acme --org acme --token-stdin < token.txt"
            )
        try:
            with GitHubClient(token) as client:
                viewer = client.get_viewer()
                client.get_org(org)
                scopes = client.last_scopes or ""
        except errors.GitHubError as exc:
            raise CommandError(f"GitHub refused: {exc}") from None
        with transaction.atomic():
            team_obj = Team.objects.filter(slug=slugify(team)).first() or Team.objects.filter(name=team).first()
            if team_obj is None:
                team_obj = Team.objects.create(name=team, slug=slugify(team))
            integration, _ = GitHubIntegration.objects.update_or_create(
                team=team_obj, defaults={"organization_login": org, "scopes": scopes or ""}
            )
            GitHubCredential.objects.update_or_create(integration=integration, defaults={"access_token": token})
        self.stdout.write(
            f"Team {team_obj.slug!r} connected to {org} as {viewer.get('login')} "
            f"(token {token[:4]}…, {len(token)} characters)."
        )
