"""Teams, their GitHub connection, and what a sync stores.

Status is derived when read (``SyncRun.get_state``): the rows hold facts,
timestamps and counts that stay true when every worker is dead.
"""

from dataclasses import dataclass
from datetime import timedelta

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from fernet_fields import EncryptedTextField


class Team(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.name


class GitHubIntegration(models.Model):
    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="github")
    organization_login = models.CharField(max_length=100)
    connected_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    scopes = models.CharField(max_length=500, blank=True)
    connected_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.team} → {self.organization_login}"

    def get_access_token(self):
        """The decrypted token, or TokenUnavailable saying why there is none."""
        from integrations.github.errors import TokenUnavailable

        try:
            token = self.credential.access_token
        except GitHubCredential.DoesNotExist:
            raise TokenUnavailable("No GitHub token is stored for this team; connect GitHub again.") from None
        except InvalidToken:
            raise TokenUnavailable(
                "The stored GitHub token cannot be decrypted: FERNET_KEYS probably changed without keeping "
                "the old key. Put the old key back (after the new one) or connect GitHub again."
            ) from None
        if not token or not token.strip():
            raise TokenUnavailable("The stored GitHub token is empty; connect GitHub again.")
        return token


class GitHubCredential(models.Model):
    """The OAuth (or personal) access token, apart so a key problem never breaks listing integrations."""

    integration = models.OneToOneField(GitHubIntegration, on_delete=models.CASCADE, related_name="credential")
    access_token = EncryptedTextField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"credential for {self.integration_id}"


class RepositoryStatus(models.TextChoices):
    PENDING = "pending"
    SYNCING = "syncing"
    COMPLETE = "complete"
    FAILED = "failed"


class TrackedRepository(models.Model):
    """A repository the team chose, with the latest known summary (for the dashboard) and its watermark.

    A run's own figures live in ``SyncRunRepository``: this row only says how
    the latest run that reached the repository left it.
    """

    Status = RepositoryStatus

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="repositories")
    github_id = models.BigIntegerField()
    full_name = models.CharField(max_length=200)
    private = models.BooleanField(default=False)
    default_branch = models.CharField(max_length=200, blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    sync_status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    prs_synced = models.PositiveIntegerField(default=0)
    prs_total = models.PositiveIntegerField(null=True, blank=True)
    # {"watermark": ISO updatedAt of the newest pull request of the last completed pass}:
    # an incremental pass stops below it. A pass in progress is checkpointed on its run's row.
    checkpoint = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "github_id"], name="unique_repo_per_team")]
        verbose_name_plural = "tracked repositories"

    def __str__(self):
        return self.full_name

    @property
    def owner_and_name(self):
        owner, _, name = self.full_name.partition("/")
        return owner, name


class PullRequest(models.Model):
    repository = models.ForeignKey(TrackedRepository, on_delete=models.CASCADE, related_name="pull_requests")
    github_id = models.BigIntegerField()
    number = models.PositiveIntegerField()
    title = models.TextField()
    author_login = models.CharField(max_length=100, null=True, blank=True)  # null: deleted account
    state = models.CharField(max_length=10)  # open / closed / merged
    draft = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    merged_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    additions = models.PositiveIntegerField(default=0)
    deletions = models.PositiveIntegerField(default=0)
    changed_files = models.PositiveIntegerField(default=0)
    commits_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repository", "github_id"], name="unique_pr_per_repo")]

    def __str__(self):
        return f"#{self.number} {self.title}"


class PullRequestReview(models.Model):
    pull_request = models.ForeignKey(PullRequest, on_delete=models.CASCADE, related_name="reviews")
    github_id = models.BigIntegerField()
    reviewer_login = models.CharField(max_length=100, null=True, blank=True)
    state = models.CharField(max_length=20)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pull_request", "github_id"], name="unique_review_per_pr")]

    def __str__(self):
        return f"{self.reviewer_login or 'ghost'}: {self.state}"


class Member(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="github_members")
    github_id = models.BigIntegerField()
    login = models.CharField(max_length=100)
    name = models.CharField(max_length=200, blank=True)
    avatar_url = models.URLField(max_length=500, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "github_id"], name="unique_member_per_team")]

    def __str__(self):
        return self.login


class SyncRunQuerySet(models.QuerySet):
    def in_state(self, state, now=None):
        """Runs whose ``get_state(now)`` is ``state``, as one query (the admin filters by derived state)."""
        now = now or timezone.now()
        stale = now - timedelta(seconds=settings.SYNC_STALL_SECONDS)
        active = Q(outcome="")
        never_picked_up = Q(started_at__isnull=True)
        silent = Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, started_at__lt=stale)
        interrupted = Q(outcome=SyncRun.Outcome.INTERRUPTED)
        # Waiting for a worker, and not for too long: queued or requeued within the
        # window, or its message seen in the broker (with live workers) within it.
        recent = Q(requeued_at__gte=stale) | Q(queue_seen_at__gte=stale)
        queued_recently = Q(created_at__gte=stale) | recent
        released_recently = Q(finished_at__gte=stale) | Q(finished_at__isnull=True, created_at__gte=stale) | recent
        not_resumed = interrupted & ~released_recently
        stalled = (active & never_picked_up & ~queued_recently) | (active & ~never_picked_up & silent) | not_resumed
        alive = active & ~never_picked_up & ~silent
        conditions = {
            State.QUEUED: active & never_picked_up & queued_recently,
            State.RUNNING: alive & ~Q(waiting_until__gt=now),
            State.WAITING: alive & Q(waiting_until__gt=now),
            State.STALLED: stalled,
            State.INTERRUPTED: interrupted & ~not_resumed,
        }
        if state in conditions:
            return self.filter(conditions[state])
        if state in SyncRun.Outcome.values:
            return self.filter(outcome=state)
        raise ValueError(f"unknown state {state!r}")


class State(models.TextChoices):
    """What a run is doing or how it ended, as ``SyncRun.get_state`` derives it. Groups below."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"  # on a GitHub rate limit, announced until a time
    STALLED = "stalled"
    INTERRUPTED = "interrupted"  # its worker shut down; queued to resume from its checkpoints
    SUCCEEDED = "succeeded"
    PARTLY_FAILED = "partly_failed", "partly failed"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    SKIPPED = "skipped"  # a person left it stalled and went on


# A worker is on it, or should be.
ACTIVE_STATES = frozenset({State.QUEUED, State.RUNNING, State.WAITING, State.STALLED})
# A person should act: the page shows the reason with Retry.
TROUBLE_STATES = frozenset({State.STALLED, State.FAILED, State.PARTLY_FAILED})


@dataclass(frozen=True)
class RunState:
    state: str  # a State value
    reason: str = ""
    # Why, as a code the page turns into the action that helps: "not_picked_up", "worker_died",
    # "not_resumed", "no_worker", "task_lost", or a failure's error code (ErrorCode).
    cause: str = ""

    @property
    def is_active(self):
        return self.state in ACTIVE_STATES


class ErrorCode(models.TextChoices):
    """Why a run or a repository failed, for the action that helps."""

    TOKEN = "token"  # revoked, expired or undecryptable: connect GitHub again
    NOT_CONNECTED = "not_connected"
    REPOSITORY_GONE = "repository_gone"  # deleted, renamed away or hidden: stop tracking it
    NO_ACCESS = "no_access"
    GITHUB_DOWN = "github_down"  # 5xx, timeouts, GraphQL errors: retry later
    RATE_LIMITED = "rate_limited"
    INCOMPLETE = "incomplete"
    MEMBERS = "members"
    UNEXPECTED = "unexpected"


class SyncRun(models.Model):
    class Reason(models.TextChoices):
        ONBOARDING = "onboarding"
        RETRY = "retry"
        ADMIN = "admin"
        CLI = "cli"
        AUTOMATIC = "automatic"

    class Outcome(models.TextChoices):
        SUCCEEDED = State.SUCCEEDED
        PARTLY_FAILED = State.PARTLY_FAILED
        FAILED = State.FAILED
        INTERRUPTED = State.INTERRUPTED
        SUPERSEDED = State.SUPERSEDED
        SKIPPED = State.SKIPPED

    STATES = tuple(State.values)
    ACTIVE_STATES = ACTIVE_STATES

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="sync_runs")
    repositories = models.ManyToManyField(
        TrackedRepository, through="SyncRunRepository", related_name="sync_runs", blank=True
    )
    reason = models.CharField(max_length=20, choices=Reason.choices)
    full = models.BooleanField(default=False)
    include_members = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    heartbeat_note = models.CharField(max_length=300, blank=True)
    waiting_until = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=64, blank=True)
    # The Redis broker's own key of the message (a new one at every enqueue): how the watcher finds it.
    broker_key = models.CharField(max_length=64, blank=True)
    # The watcher's findings about the run's message (integrations.sync.lost):
    # when it last saw it waiting in the broker while workers were alive, and
    # when and why it queued the run again after the message was lost.
    queue_seen_at = models.DateTimeField(null=True, blank=True)
    requeued_at = models.DateTimeField(null=True, blank=True)
    requeue_reason = models.CharField(max_length=300, blank=True)
    # Set by the delivery that claimed the run; every later write is fenced on it.
    claim_token = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=20, choices=ErrorCode.choices, blank=True)
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    members_synced = models.PositiveIntegerField(null=True, blank=True)
    event_seq = models.PositiveBigIntegerField(default=0)

    objects = SyncRunQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["team", "-created_at"])]

    def __str__(self):
        return f"run {self.pk} ({self.reason})"

    def _waiting_in_queue(self, now, stall):
        """Queued again, or its message seen waiting in the broker, within the stall window."""
        return any(t is not None and now - t <= stall for t in (self.requeued_at, self.queue_seen_at))

    def get_state(self, now=None):
        """The run's ``RunState`` at ``now``, derived from stored facts, with a reason a person understands."""
        now = now or timezone.now()
        stall = timedelta(seconds=settings.SYNC_STALL_SECONDS)
        if self.outcome == self.Outcome.SUPERSEDED:
            newer = f"Run {self.superseded_by_id}" if self.superseded_by_id else "A newer sync"
            return RunState(State.SUPERSEDED, f"{newer} of the same repositories replaced this one.")
        if self.outcome == self.Outcome.INTERRUPTED:
            # Released by a shut-down worker and queued again: a stall if no worker resumes it.
            waited = now - (self.finished_at or self.created_at)
            if waited > stall and not self._waiting_in_queue(now, stall):
                return RunState(
                    State.STALLED,
                    f"The worker was shut down at {_clock(self.finished_at or self.created_at)} and no worker "
                    "has resumed the sync since.",
                    "not_resumed",
                )
            reason = " ".join(filter(None, [self.error, self.requeue_reason]))
            return RunState(State.INTERRUPTED, reason, "task_lost" if self.requeue_reason else "")
        if self.outcome:
            return RunState(self.outcome, self.error, self.error_code)
        if self.started_at is None:
            waited = now - self.created_at
            if waited > stall and not self._waiting_in_queue(now, stall):
                return RunState(
                    State.STALLED,
                    f"No worker has picked up this sync since it was queued at {_clock(self.created_at)}.",
                    "not_picked_up",
                )
            reason = " ".join(filter(None, ["Waiting for a worker.", self.requeue_reason]))
            return RunState(State.QUEUED, reason, "task_lost" if self.requeue_reason else "")
        beat = self.heartbeat_at or self.started_at
        silent = now - beat
        if silent > stall:
            # Checked before waiting_until: a worker heartbeats while it waits
            # on a rate limit, so silence means it died, even mid-wait.
            where = f" while {self.heartbeat_note}" if self.heartbeat_note else ""
            return RunState(State.STALLED, f"The worker stopped responding at {_clock(beat)}{where}.", "worker_died")
        if self.waiting_until and self.waiting_until > now:
            return RunState(
                State.WAITING,
                f"Paused: GitHub rate limit, resumes at {_clock(self.waiting_until)}.",
                ErrorCode.RATE_LIMITED,
            )
        return RunState(State.RUNNING, self.heartbeat_note)


def _clock(moment):
    """A time of day in the configured zone: reasons name moments, not ages that would tick on a page."""
    return f"{timezone.localtime(moment):%H:%M:%S}"


class SyncRunRepository(models.Model):
    """One repository in one run: that run's own status, counts, checkpoint, error and timestamps."""

    Status = RepositoryStatus

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="repository_rows")
    repository = models.ForeignKey(TrackedRepository, on_delete=models.CASCADE, related_name="run_rows")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    # Pull requests of the repository stored when this run last wrote, of GitHub's total then.
    prs_synced = models.PositiveIntegerField(default=0)
    prs_total = models.PositiveIntegerField(null=True, blank=True)
    # What this run itself wrote (its rate and ETA count these, not an earlier run's rows).
    prs_written = models.PositiveIntegerField(default=0)
    reviews_written = models.PositiveIntegerField(default=0)
    # The pass in progress: {"pass": "full"|"incremental", "cursor", "page", "pass_max_updated", "watermark"}.
    checkpoint = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=20, choices=ErrorCode.choices, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "repository"], name="unique_repository_per_run")]

    def __str__(self):
        return f"run {self.run_id}: {self.repository_id} {self.status}"
