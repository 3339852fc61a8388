"""Tracking repositories: what a team chose to sync, stored from GitHub's listing."""

from integrations.models import TrackedRepository


def track_repositories(team, repositories):
    """Upsert ``RepositoryData`` items as the team's tracked repositories; returns them in the given order."""
    repositories = list(repositories)
    TrackedRepository.objects.bulk_create(
        [
            TrackedRepository(
                team=team,
                github_id=r.github_id,
                full_name=r.full_name,
                private=r.private,
                default_branch=r.default_branch or "",
                pushed_at=r.pushed_at,
            )
            for r in repositories
        ],
        update_conflicts=True,
        unique_fields=["team", "github_id"],
        update_fields=["full_name", "private", "default_branch", "pushed_at"],
    )
    by_id = {
        t.github_id: t
        for t in TrackedRepository.objects.filter(team=team, github_id__in=[r.github_id for r in repositories])
    }
    return [by_id[r.github_id] for r in repositories]
