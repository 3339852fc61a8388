"""Forms of the onboarding flow: a new team, and the choice of a GitHub organisation."""

from django import forms
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from integrations.models import Team


class TeamForm(forms.Form):
    """A new team's name: one the ``user`` does not already have among their teams, whatever its case."""

    name = forms.CharField(max_length=100, label="Team name", strip=True)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_name(self):
        name = self.cleaned_data["name"]
        if not slugify(name):
            raise forms.ValidationError("Use at least one letter or digit in the name.")
        # Among the user's own teams only: other people's team names are theirs to reuse (slugs stay unique).
        existing = self.user.teams.filter(name__iexact=name).first()
        if existing is not None:
            raise forms.ValidationError(
                f"You already have a team called {existing.name}. Choose it above, or give the new team another name."
            )
        return name

    def save(self):
        """Create the team with a slug no other team has, with the user as its first member; returns it."""
        name = self.cleaned_data["name"]
        for _ in range(5):
            try:
                # A savepoint: another request may take the same slug between the check and the insert.
                with transaction.atomic():
                    team = Team.objects.create(name=name, slug=unique_team_slug(name))
                    team.members.add(self.user)
                    return team
            except IntegrityError:
                continue
        raise forms.ValidationError("Could not find a free address for this team name; try another name.")


def unique_team_slug(name):
    """``slugify(name)``, with ``-2``, ``-3``… appended while another team holds it."""
    base = slugify(name)[:90] or "team"
    taken = set(Team.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    slug, counter = base, 1
    while slug in taken:
        counter += 1
        slug = f"{base}-{counter}"
    return slug


class OrganizationForm(forms.Form):
    """One organisation among ``logins``, the ones the stored token can see."""

    organization = forms.ChoiceField(widget=forms.RadioSelect, label="Organisation")

    def __init__(self, *args, logins=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].choices = [(login, login) for login in logins]
        self.fields["organization"].error_messages["invalid_choice"] = (
            "%(value)s is not an organisation your GitHub connection can see. Choose one from the list."
        )
