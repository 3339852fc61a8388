"""Re-encrypt every stored GitHub token with the first key of FERNET_KEYS."""

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from integrations.models import GitHubCredential


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored token with the first key of FERNET_KEYS (put the new key first, keep the old "
        "ones after it, run this, then drop the old keys). Changes nothing if any token cannot be decrypted."
    )

    def handle(self, **options):
        ids = list(GitHubCredential.objects.order_by("pk").values_list("pk", flat=True))
        unreadable = []
        with transaction.atomic():
            tokens = {}
            for pk in ids:
                try:
                    tokens[pk] = GitHubCredential.objects.select_for_update().get(pk=pk).access_token
                except InvalidToken:
                    unreadable.append(pk)
            if unreadable:
                teams = ", ".join(
                    str(c.integration.team)
                    for c in GitHubCredential.objects.filter(pk__in=unreadable)
                    .select_related("integration__team")
                    .defer("access_token")
                )
                raise CommandError(
                    f"{len(unreadable)} of {len(ids)} tokens cannot be decrypted with FERNET_KEYS (teams: {teams}). "
                    "Nothing was changed. Add the key they were encrypted with to FERNET_KEYS (after the new one)."
                )
            for pk, token in tokens.items():
                credential = GitHubCredential(pk=pk)
                credential.access_token = token
                credential.save(update_fields=["access_token", "updated_at"])
        self.stdout.write(f"Re-encrypted {len(tokens)} tokens with the first key of FERNET_KEYS.")
