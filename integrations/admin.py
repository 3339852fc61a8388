"""Operators' view of teams and syncs, with resync actions.

The token is never shown: GitHubCredential is not registered, and the
integration inline lists only non-secret fields.
"""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from integrations.models import (
    GitHubIntegration,
    Member,
    PullRequest,
    PullRequestReview,
    SyncRun,
    Team,
    TrackedRepository,
)
from integrations.sync.progress import describe_state, repository_status
from integrations.sync.resync import resync


def _report(modeladmin, request, results):
    for result in results:
        if result.run is None:
            modeladmin.message_user(request, result.refusal, messages.WARNING)
            continue
        url = reverse("admin:integrations_syncrun_change", args=[result.run.pk])
        names = ", ".join(r.full_name for r in result.repositories) or "members"
        modeladmin.message_user(
            request,
            format_html('{}: <a href="{}">run {}</a> queued for {}.', result.team, url, result.run.pk, names),
            messages.SUCCESS,
        )
        if result.left_out:
            modeladmin.message_user(
                request, f"{result.team}: left out, still syncing in a live run: {result.left_out}.", messages.WARNING
            )


class GitHubIntegrationInline(admin.StackedInline):
    model = GitHubIntegration
    fields = ["organization_login", "connected_by", "scopes", "connected_at"]
    readonly_fields = fields
    can_delete = False
    extra = 0


class TrackedRepositoryInline(admin.TabularInline):
    model = TrackedRepository
    fields = ["full_name", "sync_status", "prs_synced", "prs_total", "last_synced_at", "last_error"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "organization", "created_at"]
    search_fields = ["name", "slug"]
    filter_horizontal = ["members"]
    inlines = [GitHubIntegrationInline, TrackedRepositoryInline]
    actions = ["resync_all"]
    list_select_related = ["github"]

    @admin.display(description="GitHub organisation")
    def organization(self, team):
        integration = getattr(team, "github", None)
        return integration.organization_login if integration else "not connected"

    @admin.action(description="Resync all repositories")
    def resync_all(self, request, queryset):
        results = []
        for team in queryset:
            repos = list(team.repositories.select_related("team"))
            results += resync(repos, include_members=True, skip_live=True) if repos else []
            if not repos:
                self.message_user(request, f"{team}: no tracked repositories to resync.", messages.WARNING)
        _report(self, request, results)


@admin.register(TrackedRepository)
class TrackedRepositoryAdmin(admin.ModelAdmin):
    list_display = ["full_name", "team", "sync_status", "progress", "last_synced_at", "last_error"]
    list_filter = ["sync_status", "team"]
    search_fields = ["full_name"]
    readonly_fields = ["checkpoint"]
    list_select_related = ["team"]
    actions = ["resync_selected", "full_resync_selected"]

    @admin.display(description="PRs synced")
    def progress(self, repo):
        return f"{repo.prs_synced} of {repo.prs_total if repo.prs_total is not None else '?'}"

    @admin.action(description="Resync selected repositories")
    def resync_selected(self, request, queryset):
        _report(self, request, resync(list(queryset.select_related("team"))))

    @admin.action(description="Full resync of selected repositories")
    def full_resync_selected(self, request, queryset):
        _report(self, request, resync(list(queryset.select_related("team")), full=True))


class DerivedStateFilter(admin.SimpleListFilter):
    """By state as get_state derives it now, stalled included (not a stored column)."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [(state, state) for state in SyncRun.STATES]

    def queryset(self, request, queryset):
        return queryset.in_state(self.value()) if self.value() in SyncRun.STATES else queryset


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["id", "team", "reason", "derived_state", "heartbeat_age", "started_at", "duration"]
    list_filter = [DerivedStateFilter, "reason", "team"]
    list_select_related = ["team"]
    exclude = ["repositories", "claim_token"]
    readonly_fields = ["derived_state", "repository_progress"] + [
        f.name for f in SyncRun._meta.fields if f.name not in ("id", "claim_token")
    ]

    def has_add_permission(self, request):
        return False  # runs start through start_sync (the resync actions), never by hand

    def has_change_permission(self, request, obj=None):
        return False  # a view page: every field read-only

    @admin.display(description="state")
    def derived_state(self, run):
        state = describe_state(run)
        return f"{state.state}: {state.reason}" if state.reason else state.state

    @admin.display(description="heartbeat age")
    def heartbeat_age(self, run):
        if not run.heartbeat_at or run.outcome:
            return "-"
        return f"{int((timezone.now() - run.heartbeat_at).total_seconds())} s"

    @admin.display(description="duration")
    def duration(self, run):
        if not run.started_at:
            return "-"
        seconds = int(((run.finished_at or timezone.now()) - run.started_at).total_seconds())
        return f"{seconds // 60} min {seconds % 60} s"

    @admin.display(description="repositories")
    def repository_progress(self, run):
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{} of {}</td><td>{}</td></tr>",
            (
                (
                    row.repository.full_name,
                    repository_status(run, row),
                    row.prs_synced,
                    row.prs_total if row.prs_total is not None else "?",
                    row.error,
                )
                for row in run.repository_rows.select_related("repository").order_by("repository__full_name")
            ),
        )
        return format_html(
            "<table><tr><th>repository</th><th>status</th><th>PRs synced</th><th>error</th></tr>{}</table>",
            rows,
        )


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # a view page: every field read-only

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PullRequest)
class PullRequestAdmin(ReadOnlyAdmin):
    list_display = ["repository", "number", "title", "author_login", "state", "updated_at"]
    list_filter = ["state", "draft"]
    search_fields = ["title", "author_login", "repository__full_name"]
    list_select_related = ["repository"]


@admin.register(PullRequestReview)
class PullRequestReviewAdmin(ReadOnlyAdmin):
    list_display = ["pull_request", "reviewer_login", "state", "submitted_at"]
    list_filter = ["state"]
    search_fields = ["reviewer_login", "pull_request__title"]
    list_select_related = ["pull_request"]


@admin.register(Member)
class MemberAdmin(ReadOnlyAdmin):
    list_display = ["login", "name", "team"]
    search_fields = ["login", "name"]
    list_select_related = ["team"]
