"""Shared lookups for the operator commands."""

from django.core.management.base import CommandError

from integrations.models import Team


def get_team(value):
    """A team by slug, name or id."""
    team = Team.objects.filter(slug=value).first() or Team.objects.filter(name=value).first()
    if team is None and str(value).isdigit():
        team = Team.objects.filter(pk=int(value)).first()
    if team is None:
        raise CommandError(f"No team {value!r}. Create it with connect_github --team {value} --org ORG --token-stdin.")
    return team


def print_summary(stdout, summary):
    if summary is None:
        stdout.write("This run is owned by another worker or already over; nothing was done.")
        return
    stdout.write(
        f"run {summary.run_id}: {summary.outcome} in {summary.seconds:.1f} s, {summary.requests} GitHub requests, "
        f"{summary.prs_written} pull requests and {summary.reviews_written} reviews written, "
        f"members: {summary.members if summary.members is not None else '-'}"
    )
    for name, status in summary.repositories.items():
        stdout.write(f"  {name}: {status}")
    if summary.error:
        stdout.write(f"error: {summary.error}")
