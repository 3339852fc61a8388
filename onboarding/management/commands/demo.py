"""``manage.py demo``: the whole product on one laptop, against a local GitHub.

Embedded mode only: SQLite in var/, the in-process broker and worker, the
in-memory channel layer. The GitHub emulator runs in a thread of this process
with a seeded organisation "acme" and an OAuth app this command configures;
the user ``demo`` (password ``demo``) signs in and goes through onboarding:
create a team, connect GitHub, choose repositories, watch the sync.
"""

import errno
import os
import socket

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from integrations.emulator.data import build_world
from integrations.emulator.server import EmulatorServer
from integrations.models import GitHubCredential

HOST = "127.0.0.1"  # the demo user's password is "demo": never listen beyond this machine
ORGANIZATION = "acme"
# The OAuth app the demo registers with its emulator; meaningless anywhere else.
DEMO_CLIENT_ID = "onboarding-sync-demo"
DEMO_CLIENT_SECRET = "onboarding-sync-demo-secret"
# A sync of the whole demo organisation (seed 1) makes 43 GitHub requests, most of them GraphQL
# pages of 100 pull requests with their reviews: at 700 ms an answer it lasts about 30 s (31 s
# measured end to end in the demo, 3 s at the former 40 ms), long enough to watch rows fill in.
DEFAULT_LATENCY_MS = 700
DEMO_PASSWORD = "demo"


class Command(BaseCommand):
    help = "Run the product locally against a GitHub emulator; sign in as demo / demo and onboard a team."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="port of the web app (default 8000)")
        parser.add_argument(
            "--emulator-port", type=int, default=8765, help="port of the GitHub emulator (default 8765)"
        )
        parser.add_argument("--seed", type=int, default=1, help="seed of the emulated organisation (default 1)")
        parser.add_argument(
            "--latency-ms",
            type=int,
            default=DEFAULT_LATENCY_MS,
            help=(
                "time the emulated GitHub takes to answer each request, so a sync takes long enough to watch "
                f"(default {DEFAULT_LATENCY_MS}: syncing all 12 repositories takes about 30 s)"
            ),
        )

    def handle(self, *args, port, emulator_port, seed, latency_ms, **options):
        if settings.REDIS_URL:
            raise CommandError(
                "manage.py demo runs in embedded mode only, and REDIS_URL is set (production mode). "
                "Unset REDIS_URL to run the demo, or run the Procfile's web and worker processes for production."
            )
        if latency_ms < 0:
            raise CommandError("--latency-ms cannot be negative.")
        _check_port_free(port, "--port")

        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write(f"Database ready: {settings.DATABASES['default']['NAME']}")
        user = _demo_user()
        # The emulator forgets its tokens when it stops: give it back the ones teams stored, so
        # connections made in an earlier run keep working.
        tokens = stored_tokens(self.stdout.write)

        try:
            emulator = EmulatorServer(
                demo_world(seed),
                host=HOST,
                port=emulator_port,
                latency_ms=latency_ms,
                tokens=tokens,
                oauth_clients={DEMO_CLIENT_ID: DEMO_CLIENT_SECRET},
            ).start()
        except OSError as exc:
            raise CommandError(
                f"The GitHub emulator cannot listen on {HOST}:{emulator_port} ({exc}). "
                "Pass --emulator-port to use another port."
            ) from exc
        try:
            _point_github_at(emulator.url)
            url = f"http://{HOST}:{port}"
            self.stdout.write(
                self.style.SUCCESS(
                    "\n"
                    f"  Open        {url}/accounts/login/\n"
                    f"  Log in as   {user.username} / {DEMO_PASSWORD}   (admin: {url}/admin/)\n"
                    f"  GitHub      emulator at {emulator.url}: organisation '{ORGANIZATION}' (seed {seed}),\n"
                    f"              {latency_ms} ms per answer; connect it from the onboarding pages\n"
                    "  Stop with   Ctrl-C\n"
                )
            )
            # Daphne's runserver: the same ASGI server as the Procfile's web
            # process, plus static files for the admin while DEBUG is on. No
            # reloader: it would start a second process without the emulator.
            call_command("runserver", f"{HOST}:{port}", use_reloader=False)
        finally:
            emulator.stop()


def demo_world(seed):
    """The emulated organisation of the demo: 12 repositories of up to 300 pull requests, 60 members."""
    return build_world(seed=seed, orgs=(ORGANIZATION,), repos=12, prs=(0, 300), members=60)


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
    """Send every GitHub call of this process (API, GraphQL, OAuth pages) to ``base_url``, as the demo's OAuth app."""
    values = {
        "GITHUB_API_URL": base_url,
        "GITHUB_GRAPHQL_URL": f"{base_url}/graphql",
        "GITHUB_WEB_URL": base_url,
        "GITHUB_CLIENT_ID": DEMO_CLIENT_ID,
        "GITHUB_CLIENT_SECRET": DEMO_CLIENT_SECRET,
    }
    for name, value in values.items():
        setattr(settings, name, value)
        os.environ[name] = value


def _demo_user():
    """The user ``demo`` with the password ``demo`` (and the admin), created, or reset if its password changed."""
    user, created = get_user_model().objects.get_or_create(username="demo")
    user.is_staff = True
    user.is_superuser = True
    # Setting the password again, even to the same one, makes a new hash and so signs
    # out every browser signed in as demo (sessions carry a hash of it): a restart of
    # the demo keeps them signed in unless the password really has to be reset.
    if created or not user.check_password(DEMO_PASSWORD):
        user.set_password(DEMO_PASSWORD)
    user.save()
    return user


def stored_tokens(write):
    """Every access token stored in the database that decrypts; ``write`` notes the ones skipped."""
    tokens = []
    rows = GitHubCredential.objects.values_list("pk", "integration__team__name").order_by("pk")
    for pk, team_name in rows:
        try:
            # Decrypted when the row loads, so each row on its own: one unreadable token
            # (FERNET_KEYS changed, var/dev-secrets.json deleted) must not hide the others.
            token = GitHubCredential.objects.get(pk=pk).access_token
        except InvalidToken:
            write(f"Skipped the stored GitHub token of team {team_name!r}: it cannot be decrypted with FERNET_KEYS.")
            write("  That team connects GitHub again from its onboarding page.")
            continue
        if token and token.strip():
            tokens.append(token.strip())
    return tokens
