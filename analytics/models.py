"""The analytics summary's tables. They keep the names they had under dashboard/ (moved without
copying data: analytics/migrations/0001_initial.py), which the triggers and raw SQL of
analytics/summary.py use."""

from __future__ import annotations

from django.db import models

# --- The analytics summary ---------------------------------------------------------------------
# Calls counted per local hour (and per local day) of the site's time zone, so the analytics
# page reads a few thousand summed rows instead of every call. Database triggers on calls_call
# and calls_callreview (dashboard/analytics_summary.py) record what changed in SummaryChange in
# the same transaction as the change; a beat task recomputes just those hours. The page reads
# the summary for hours nobody has changed since, and the calls table for the rest, so its
# figures are exact at every moment.


class SummaryState(models.Model):
    """The summary's bookkeeping (one row, pk=1)."""

    # The zone whose local days and hours key the summary rows; "" until it has been built.
    # A different TIME_ZONE makes every row meaningless, so the refresh rebuilds.
    time_zone = models.CharField(max_length=64, blank=True)
    rebuilt_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "dashboard_summarystate"

    def __str__(self) -> str:
        return f"Analytics summary in {self.time_zone or '(not built)'}"


class SummaryChange(models.Model):
    """Something the summary has not caught up with yet. Written only by database triggers.

    `hour`: the UTC hour of a call that was inserted, deleted or changed in a summed column
    (both hours when its created_at moved). `call_id`: a call whose review changed; resolved to
    the call's hour when read, because a SQLite trigger on one table must not name another.
    Rows are never updated, so writers never wait on each other here; the refresh deletes
    exactly the rows it read. (Changing this table on SQLite remakes it, which its triggers do
    not survive: drop them first, as install_triggers() can put them back.)
    """

    id = models.BigAutoField(primary_key=True)
    hour = models.DateTimeField(null=True)
    call_id = models.BigIntegerField(null=True)

    class Meta:
        db_table = "dashboard_summarychange"
        indexes = [models.Index(fields=["hour"], name="summarychange_hour_idx")]

    def __str__(self) -> str:
        return f"Change {self.pk}: {self.hour or f'call {self.call_id}'}"


def _dimension(model: str, *, null: bool) -> models.ForeignKey:
    # No database constraint and no index: a deleted agent or campaign sets the calls' column to
    # NULL, the triggers mark those hours and the refresh rewrites them; reads join for names.
    return models.ForeignKey(
        model,
        null=null,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )


class CallFigures(models.Model):
    """Sums over the calls of one local day (and hour), vendor account, agent, campaign, state,
    outcome, vendor reason and common outcome; the reviews of those calls are summed on the
    same row."""

    day = models.DateField()
    vendor_account = _dimension("vendors.VendorAccount", null=False)
    agent = _dimension("calls.Agent", null=True)
    campaign = _dimension("campaigns.Campaign", null=True)
    state = models.CharField(max_length=10)
    outcome = models.CharField(max_length=20, blank=True)
    vendor_outcome = models.CharField(max_length=64, blank=True)
    # The outcome in the one language of every vendor (calls.outcomes).
    common_outcome = models.CharField(max_length=20, blank=True, db_default="")
    calls = models.PositiveIntegerField()
    duration_count = models.PositiveIntegerField()  # calls with a duration
    duration_sum = models.BigIntegerField()  # seconds
    reviewed = models.PositiveIntegerField()
    rated = models.PositiveIntegerField()
    rating_sum = models.PositiveIntegerField()

    class Meta:
        abstract = True


class CallHourSummary(CallFigures):
    hour = models.PositiveSmallIntegerField()  # 0–23, local

    class Meta:
        db_table = "dashboard_callhoursummary"
        indexes = [models.Index(fields=["day", "hour"], name="callhoursummary_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.hour:02d}h: {self.calls} calls"


class CallDaySummary(CallFigures):
    class Meta:
        db_table = "dashboard_calldaysummary"
        indexes = [models.Index(fields=["day"], name="calldaysummary_day_idx")]

    def __str__(self) -> str:
        return f"{self.day}: {self.calls} calls"


class CallHourTotal(models.Model):
    """Calls per local day and hour, all accounts, agents and campaigns together: the heat map
    reads 24 rows a day here instead of every row of CallHourSummary."""

    day = models.DateField()
    hour = models.PositiveSmallIntegerField()
    calls = models.PositiveIntegerField()

    class Meta:
        db_table = "dashboard_callhourtotal"
        indexes = [models.Index(fields=["day", "hour"], name="callhourtotal_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.hour:02d}h: {self.calls} calls"


class HistogramSlice(models.TextChoices):
    """Which calls a histogram row counts: all of them, or one account's, agent's, campaign's."""

    ALL = "all", "All calls"
    ACCOUNT = "account", "Vendor account"
    AGENT = "agent", "Agent"
    CAMPAIGN = "campaign", "Campaign"


class DurationFigures(models.Model):
    """How many calls of a local day (and hour) lasted how long: the histogram the median
    duration is estimated from (dashboard/analytics_summary.py). One slice per grouping of the
    page, so a median by day reads a few dozen rows a day, not one per agent and campaign."""

    day = models.DateField()
    slice = models.CharField(max_length=8, choices=HistogramSlice.choices)
    # The account, agent or campaign id (NULL: calls with none, or the "all" slice).
    member = models.BigIntegerField(null=True)
    bucket = models.PositiveIntegerField()  # the bucket's first second
    calls = models.PositiveIntegerField()

    class Meta:
        abstract = True


class DurationHourSummary(DurationFigures):
    hour = models.PositiveSmallIntegerField()

    class Meta:
        db_table = "dashboard_durationhoursummary"
        indexes = [models.Index(fields=["slice", "day", "hour"], name="durationhoursummary_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.hour:02d}h, {self.slice} {self.member}, {self.bucket} s"


class DurationDaySummary(DurationFigures):
    class Meta:
        db_table = "dashboard_durationdaysummary"
        indexes = [
            models.Index(fields=["slice", "day"], name="durationdaysummary_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day}, {self.slice} {self.member}, {self.bucket} s: {self.calls} calls"
