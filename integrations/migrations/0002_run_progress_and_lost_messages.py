"""A row per (run, repository) with that run's own progress; SyncRun.repositories goes through it.

Runs that existed before keep their repositories. What each of them did is
not known any more, so a row gets what can be said truthfully: a succeeded
run completed its repositories; the latest run of a repository takes that
repository's summary (which it wrote); any other row stays pending (shown
"not started" once its run ended).
"""

import django.db.models.deletion
from django.db import migrations, models


def copy_run_repositories(apps, schema_editor):
    SyncRun = apps.get_model("integrations", "SyncRun")
    SyncRunRepository = apps.get_model("integrations", "SyncRunRepository")
    Old = SyncRun.repositories.through
    latest = {}
    rows = []
    for link in Old.objects.select_related("syncrun", "trackedrepository").order_by("syncrun__created_at", "pk"):
        run, repo = link.syncrun, link.trackedrepository
        row = SyncRunRepository(run=run, repository=repo)
        if run.outcome == "succeeded":
            row.status = "complete"
            row.prs_synced = repo.prs_synced
            row.prs_total = repo.prs_total
        rows.append(row)
        latest[repo.pk] = (row, repo)
    for row, repo in latest.values():
        row.status = repo.sync_status
        row.prs_synced = repo.prs_synced
        row.prs_total = repo.prs_total
        row.error = repo.last_error
        if repo.checkpoint.get("pass"):
            row.checkpoint = repo.checkpoint
    SyncRunRepository.objects.bulk_create(rows)
    # The repository keeps only its watermark; a pass in progress moved to the run's row.
    for _, repo in latest.values():
        if repo.checkpoint.get("pass"):
            watermark = repo.checkpoint.get("watermark")
            repo.checkpoint = {"watermark": watermark} if watermark else {}
            repo.save(update_fields=["checkpoint"])


ERROR_CODES = [
    ("token", "Token"),
    ("not_connected", "Not Connected"),
    ("repository_gone", "Repository Gone"),
    ("no_access", "No Access"),
    ("github_down", "Github Down"),
    ("rate_limited", "Rate Limited"),
    ("incomplete", "Incomplete"),
    ("members", "Members"),
    ("unexpected", "Unexpected"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="SyncRunRepository",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("syncing", "Syncing"),
                            ("complete", "Complete"),
                            ("failed", "Failed"),
                        ],
                        default="pending",
                        max_length=20,
                    ),
                ),
                ("prs_synced", models.PositiveIntegerField(default=0)),
                ("prs_total", models.PositiveIntegerField(blank=True, null=True)),
                ("prs_written", models.PositiveIntegerField(default=0)),
                ("reviews_written", models.PositiveIntegerField(default=0)),
                ("checkpoint", models.JSONField(blank=True, default=dict)),
                ("error", models.TextField(blank=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "repository",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="run_rows",
                        to="integrations.trackedrepository",
                    ),
                ),
                (
                    "run",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="repository_rows",
                        to="integrations.syncrun",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("run", "repository"), name="unique_repository_per_run")
                ],
            },
        ),
        migrations.AddField(model_name="syncrun", name="broker_key", field=models.CharField(blank=True, max_length=64)),
        migrations.AddField(
            model_name="syncrun", name="queue_seen_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(model_name="syncrun", name="requeued_at", field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(
            model_name="syncrun", name="requeue_reason", field=models.CharField(blank=True, max_length=300)
        ),
        migrations.AddField(
            model_name="syncrun",
            name="error_code",
            field=models.CharField(blank=True, choices=ERROR_CODES, max_length=20),
        ),
        migrations.AddField(
            model_name="syncrunrepository",
            name="error_code",
            field=models.CharField(blank=True, choices=ERROR_CODES, max_length=20),
        ),
        migrations.AlterField(
            model_name="syncrun",
            name="outcome",
            field=models.CharField(
                blank=True,
                choices=[
                    ("succeeded", "Succeeded"),
                    ("partly_failed", "Partly Failed"),
                    ("failed", "Failed"),
                    ("interrupted", "Interrupted"),
                    ("superseded", "Superseded"),
                    ("skipped", "Skipped"),
                ],
                max_length=20,
            ),
        ),
        migrations.RunPython(copy_run_repositories, migrations.RunPython.noop),
        migrations.RemoveField(model_name="syncrun", name="repositories"),
        migrations.AddField(
            model_name="syncrun",
            name="repositories",
            field=models.ManyToManyField(
                blank=True,
                related_name="sync_runs",
                through="integrations.SyncRunRepository",
                to="integrations.trackedrepository",
            ),
        ),
    ]
