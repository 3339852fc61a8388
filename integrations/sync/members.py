"""``sync_github_members``: the organisation's members, upserted on GitHub ids."""

import logging

from django.db import transaction

from integrations.models import Member

logger = logging.getLogger("integrations.sync")


def sync_github_members(team, *, client, org, lease=None):
    """Store the organisation's current members for ``team``; members who left are removed.

    Returns how many members the organisation has. Writes are fenced by
    ``lease`` when given (inside a sync run).
    """
    members = list(client.iter_org_members(org))
    rows = [
        Member(team=team, github_id=m.github_id, login=m.login, name=m.name or "", avatar_url=m.avatar_url or "")
        for m in members
    ]
    with lease.fenced(note=f"{org}: members") if lease else transaction.atomic():
        Member.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["team", "github_id"],
            update_fields=["login", "name", "avatar_url"],
            batch_size=500,
        )
        # Only after a complete listing: a member absent from it has left.
        gone, _ = Member.objects.filter(team=team).exclude(github_id__in=[m.github_id for m in members]).delete()
    logger.info("[SYNC_TASK] team=%s org=%s members: %s stored, %s removed", team.pk, org, len(rows), gone)
    return len(rows)
