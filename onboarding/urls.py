from django.urls import path

from onboarding.views import dashboard, github, repos, start, status, sync, team

app_name = "onboarding"

urlpatterns = [
    path("", start.next_step, name="start"),
    path("team/", team.choose_team, name="team"),
    path("github/connect/", github.connect, name="github_connect"),
    path("github/callback/", github.callback, name="github_callback"),
    path("github/organization/", github.choose_organization, name="github_organization"),
    path("repos/", repos.select_repos, name="select_repos"),
    path("repos/fetch/", repos.fetch_repos, name="fetch_repos"),
    path("repos/start/", repos.start_repo_sync, name="start_sync"),
    path("sync/", sync.sync_progress, name="sync_progress"),
    path("sync/retry/", sync.retry_sync, name="retry_sync"),
    path("sync/skip/", sync.skip_sync, name="skip_sync"),
    path("sync/status/", status.sync_status, name="sync_status"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("dashboard/sync/", dashboard.sync_now, name="sync_now"),
    path("dashboard/untrack/", dashboard.untrack_repo, name="untrack_repo"),
]
