"""``manage.py demo``: the whole product on one laptop, against a local GitHub.

Embedded mode only: SQLite in var/, the in-process broker and worker, the
in-memory channel layer. The GitHub emulator runs in a thread of this process
with a seeded organisation "acme", and a demo team is connected to it.
"""

import errno
import os
import secrets
import socket

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from integrations.emulator.data import build_world
from integrations.emulator.server import EmulatorServer
from integrations.github.client import GitHubClient
from integrations.models import GitHubCredential, GitHubIntegration, SyncRun, Team
from integrations.sync.repositories import track_repositories
from integrations.sync.start import start_sync

HOST = "127.0.0.1"  # the demo user's password is "demo": never listen beyond this machine
ORGANIZATION = "acme"


class Command(BaseCommand):
    help = "Run the product locally against a GitHub emulator, with a connected demo team (login demo / demo)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="port of the web app (default 8000)")
        parser.add_argument(
            "--emulator-port", type=int, default=8765, help="port of the GitHub emulator (default 8765)"
        )
        parser.add_argument("--seed", type=int, default=1, help="seed of the emulated organisation (default 1)")

    def handle(self, *args, port, emulator_port, seed, **options):
        if settings.REDIS_URL:
            raise CommandError(
                "manage.py demo runs in embedded mode only, and REDIS_URL is set (production mode). "
                "Unset REDIS_URL to run the demo, or run the Procfile's web and worker processes for production."
            )
        _check_port_free(port, "--port")

        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write(f"Database ready: {settings.DATABASES['default']['NAME']}")

        token = f"demo-{secrets.token_hex(16)}"
        world = build_world(seed=seed, orgs=(ORGANIZATION,), repos=12, prs=(0, 300), members=60)
        try:
            emulator = EmulatorServer(world, host=HOST, port=emulator_port, tokens=(token,)).start()
        except OSError as exc:
            raise CommandError(
                f"The GitHub emulator cannot listen on {HOST}:{emulator_port} ({exc}). "
                "Pass --emulator-port to use another port."
            ) from exc
        try:
            _point_github_at(emulator.url)
            user, team = _connect_demo_team(token)
            first_sync = _start_first_sync(team, token)
            url = f"http://{HOST}:{port}/"
            self.stdout.write(
                self.style.SUCCESS(
                    "\n"
                    f"  Open        {url}\n"
                    f"  Log in as   {user.username} / demo   (admin: {url}admin/)\n"
                    f"  Team        {team.name}, connected to the emulated GitHub organisation '{ORGANIZATION}'\n"
                    f"  GitHub      emulator at {emulator.url} (seed {seed})\n"
                    "  Stop with   Ctrl-C\n"
                )
            )
            if first_sync:
                count = first_sync.repositories.count()
                self.stdout.write(
                    f"A first sync of {count} repositories has started (run {first_sync.pk}); "
                    f"watch it at {url}admin/integrations/syncrun/{first_sync.pk}/change/\n"
                )
            # Daphne's runserver: the same ASGI server as the Procfile's web
            # process, plus static files for the admin while DEBUG is on. No
            # reloader: it would start a second process without the emulator.
            call_command("runserver", f"{HOST}:{port}", use_reloader=False)
        finally:
            emulator.stop()


def _check_port_free(port, option):
    # Daphne only logs a failed listen and keeps running; say it plainly instead.
    with socket.socket() as probe:
        # As daphne does: connections of a previous run in TIME_WAIT must not count as "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandError(f"Port {port} on {HOST} is in use; pass {option} to use another one.") from exc
            raise


def _point_github_at(base_url):
    """Send every GitHub call of this process (API, GraphQL, OAuth pages) to ``base_url``."""
    values = {
        "GITHUB_API_URL": base_url,
        "GITHUB_GRAPHQL_URL": f"{base_url}/graphql",
        "GITHUB_WEB_URL": base_url,
    }
    for name, value in values.items():
        setattr(settings, name, value)
        os.environ[name] = value


@transaction.atomic
def _connect_demo_team(token):
    """The demo user and the team connected to the emulator, created or brought up to date."""
    user, _ = get_user_model().objects.get_or_create(username="demo")
    user.is_staff = True
    user.is_superuser = True
    user.set_password("demo")
    user.save()

    team, _ = Team.objects.get_or_create(slug="demo", defaults={"name": "Demo"})
    team.members.add(user)
    integration, _ = GitHubIntegration.objects.update_or_create(
        team=team,
        defaults={"organization_login": ORGANIZATION, "connected_by": user, "scopes": "read:org,repo"},
    )
    # The emulator issues a fresh token on every start, so the stored one is
    # replaced each time. A queryset update never decrypts the old value, which
    # may be unreadable if var/dev-secrets.json was deleted and the database kept.
    replaced = GitHubCredential.objects.filter(integration=integration).update(
        access_token=token, updated_at=timezone.now()
    )
    if not replaced:
        GitHubCredential.objects.create(integration=integration, access_token=token)
    return user, team


def _start_first_sync(team, token):
    """On the demo's first start, track the organisation's repositories and sync them; returns the run."""
    if SyncRun.objects.filter(team=team).exists():
        return None
    with GitHubClient(token) as client:
        repositories = track_repositories(team, client.iter_org_repos(ORGANIZATION))
    # Queued now, picked up by the worker thread once the server has started.
    return start_sync(team, repositories, reason=SyncRun.Reason.ONBOARDING)
