"""Operators' view of teams and syncs. The token is never shown: GitHubCredential is not registered."""

from django.contrib import admin
from django.utils import timezone

from integrations.models import (
    GitHubIntegration,
    Member,
    PullRequest,
    PullRequestReview,
    SyncRun,
    Team,
    TrackedRepository,
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
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    filter_horizontal = ["members"]
    inlines = [GitHubIntegrationInline, TrackedRepositoryInline]


@admin.register(TrackedRepository)
class TrackedRepositoryAdmin(admin.ModelAdmin):
    list_display = ["full_name", "team", "sync_status", "prs_synced", "prs_total", "last_synced_at", "last_error"]
    list_filter = ["sync_status", "team"]
    search_fields = ["full_name"]
    readonly_fields = ["checkpoint"]


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["id", "team", "reason", "derived_state", "heartbeat_age", "started_at", "finished_at"]
    list_filter = ["reason", "team"]
    readonly_fields = [f.name for f in SyncRun._meta.fields] + ["derived_state"]
    exclude = ["repositories"]

    @admin.display(description="state")
    def derived_state(self, run):
        state = run.get_state()
        return f"{state.state}: {state.reason}" if state.reason else state.state

    @admin.display(description="heartbeat age")
    def heartbeat_age(self, run):
        if not run.heartbeat_at or run.outcome:
            return "-"
        return f"{int((timezone.now() - run.heartbeat_at).total_seconds())} s"


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

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
    search_fields = ["reviewer_login"]
    list_select_related = ["pull_request"]


@admin.register(Member)
class MemberAdmin(ReadOnlyAdmin):
    list_display = ["login", "name", "team"]
    search_fields = ["login", "name"]
