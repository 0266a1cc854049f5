"""The stored report: one row per (project, filters, bootstrap, seed), shared by web and worker.

A row is fresh while its `data_version` equals the project's current one (see
`analysis.services.report_data_version`); any new, removed or changed rating, or a new or
removed pair, makes it stale.
The report is kept as JSON text, not a JSON column, so its bytes (key order, float digits) come
back exactly as computed on every database.
"""

from django.db import models

from annotate.models import Project


class ReportStatus(models.TextChoices):
    COMPUTING = "computing", "Computing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class ReportCache(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="report_caches")
    key = models.CharField(max_length=64, help_text="SHA-256 of the filters, bootstrap and seed.")
    params = models.JSONField(help_text="The filters, bootstrap and seed, for people and tasks.")
    data_version = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=ReportStatus.choices)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    report_json = models.TextField(blank=True)
    extras_json = models.TextField(blank=True, help_text="Plot data that the report omits.")
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="report_cache_unique_key"),
        ]

    def __str__(self) -> str:
        return f"report {self.key[:8]} of {self.project_id} ({self.status})"
