from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from access_requests.models import AccessRequest
from accounts.models import PamAccount
from pam_project.querysets import RestrictedQuerySet
from pam_project.roles import HISTORY_READERS, Role
from resources.aws import Step


class Status(models.TextChoices):
    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    FAILED = "failed", "Failed"
    REVOKED = "revoked", "Revoked"


class Kind(models.TextChoices):
    """What an Access handed out: a console sign-in (the web page, the API, `pam
    console`) or the Target Role's temporary keys for the CLI (`pam credentials`, only
    where the account has allow_cli_credentials)."""

    CONSOLE = "console", "Console sign-in"
    CREDENTIALS = "credentials", "CLI credentials"


class FailureStep(models.TextChoices):
    """Where an Access attempt stopped. The AWS steps are the chain's own names."""

    RESOURCE_ROLE = Step.RESOURCE_ROLE.value, "Resource Role (hop 1)"
    TARGET_ROLE = Step.TARGET_ROLE.value, "Target Role (hop 2)"
    FEDERATION = Step.FEDERATION.value, "Federation sign-in token"
    RATE_LIMITED = "rate_limited", "Too many Access attempts"
    # An eligible grant with no approved window open now (or under 15 minutes left).
    WINDOW = "window", "Access window"
    RECORD = "record", "Recording the session"
    ABANDONED = "abandoned", "Request never finished"


class ConsoleSessionQuerySet(RestrictedQuerySet):
    project_path = "account__resource__project_id"
    # Everyone with a role in the project reads its sessions; its admins and approvers
    # may revoke them, as may ops with the global revoke permission.
    role_actions = {"view": HISTORY_READERS, "revoke": frozenset({Role.ADMIN, Role.APPROVER})}
    global_actions = frozenset({"revoke"})

    def own(self, user: object) -> ConsoleSessionQuerySet:
        """Everyone sees their own history; ops (view_consolesession) see everyone's."""
        return self.filter(user=user)

    def active(self) -> ConsoleSessionQuerySet:
        """The sessions active now, found through LiveSession (a few hundred rows): no
        index of this table holds `status` (see ConsoleSession.Meta)."""
        return self.filter(status_q(Status.ACTIVE))

    def with_status(self, status: str) -> ConsoleSessionQuerySet:
        """`status = <status>`, written so that the database can use an index: every
        status filter of the history (the API, the admin, the `sessions` command) comes
        here."""
        return self.filter(status_q(status))


def status_q(status: str) -> models.Q:
    """`status = <status>` and what each status implies about the columns the indexes
    do hold, so that the database reads the few matching rows from a partial index
    instead of filtering the whole history (or an account's) row by row.

    Each implication holds by the transitions in services.py and revocation.py: a row
    leaves `pending` by its activation (activated_at set) or its failure (failure_step
    set, never empty); a revocation sets revoked_at; an active session has its
    LiveSession row from its activation until after it ends. Statuses the history is
    mostly made of (expired) need no help.
    """
    q = models.Q(status=status)
    if status == Status.PENDING:
        return q & PENDING_CONDITION
    if status == Status.FAILED:
        return q & FAILED_CONDITION
    if status == Status.REVOKED:
        return q & REVOKED_CONDITION
    if status == Status.ACTIVE:
        return q & models.Q(IsLive(models.F("pk")))
    return q


class IsLive(models.Func):
    """True for a Console Session that has a LiveSession row."""

    conditional = True
    output_field = models.BooleanField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        template = f"%(expressions)s IN ({_live_ids()})"
        return super().as_sql(compiler, connection, template=template, **extra)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        # id = ANY(ARRAY(...)): the few hundred ids are read once (an InitPlan), then
        # the sessions by primary key, whatever the planner believes about how many
        # sessions are active. As a join or IN (SELECT ...), an estimate from an
        # ANALYZE taken during an outage (thousands active) had it walk the whole
        # history backwards for a page of them: 0.5 s at a million rows instead of 5 ms
        # (bench/history.py).
        template = f"%(expressions)s = ANY(ARRAY({_live_ids()}))"
        return super().as_sql(compiler, connection, template=template, **extra)


def _live_ids() -> str:
    return f"SELECT session_id FROM {LiveSession._meta.db_table}"  # noqa: S608 (our own table)


# The conditions of the partial indexes below: each names columns that the expiry (the
# one transition that happens in bulk) leaves alone.
PENDING_CONDITION = models.Q(activated_at__isnull=True, failure_step="")
FAILED_CONDITION = ~models.Q(failure_step="")
REVOKED_CONDITION = models.Q(revoked_at__isnull=False)


class ConsoleSession(models.Model):
    """One row per Access attempt, whatever happened, but for refusals past the rate
    limit: those of one user in one minute share a row, which counts them
    (`refused_count`), so that a flood of clicks or scripted calls cannot flood the
    history. Never deleted by the app (a refused attempt's own `pending` row is
    removed once its refusal is counted on the minute's row: access.py).

    Holds what an auditor needs (who, which role, from where, when, outcome, the
    identifiers CloudTrail records) and nothing that grants access: no secret key,
    session token, sign-in token or sign-in URL.
    """

    # No single-column indexes on the two foreign keys: the (user, created_at) and
    # (account, created_at) indexes below lead with them and serve the same lookups.
    # Every index costs each insert and each activation (an expiry touches none: see
    # Meta), so none is kept twice.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="console_sessions",
        db_index=False,
    )
    # Snapshots: history must still read right after a user, account or ARN changes.
    user_email = models.CharField(max_length=254)
    account = models.ForeignKey(
        PamAccount, on_delete=models.PROTECT, related_name="console_sessions", db_index=False
    )
    target_role_arn = models.CharField("Target Role ARN", max_length=2048)
    resource_role_arn = models.CharField("Resource Role ARN", max_length=2048)
    role_session_name = models.CharField(max_length=64)
    duration_seconds = models.PositiveIntegerField()
    # db_default too: rows written outside the ORM (bench/history.py) are console ones.
    kind = models.CharField(
        max_length=16, choices=Kind.choices, default=Kind.CONSOLE, db_default=Kind.CONSOLE
    )
    # Where the console opened (the account's default or the person's pick, always one of
    # the account's lists); both empty: the console's home page.
    region = models.CharField(max_length=32, blank=True)
    service = models.CharField(max_length=32, blank=True)
    # The approved window (or break-glass) this Access ran under; null for a standing
    # grant. History reads the reason, ticket and approvers through it.
    access_request = models.ForeignKey(
        AccessRequest,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="console_sessions",
    )

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    failure_step = models.CharField(max_length=32, choices=FailureStep.choices, blank=True)
    error_code = models.CharField(max_length=128, blank=True)
    error_message = models.TextField(blank=True)
    # How many attempts the row records: 1, except on a rate-limit refusal row, which
    # counts every refused attempt of its user in that minute (from created_at, the
    # first, to ended_at, the last). Summed over rows, it is the number of attempts.
    # db_default too: rows written outside the ORM (bench/history.py) record one.
    refused_count = models.PositiveIntegerField(
        "attempts",
        default=1,
        db_default=1,
        help_text="Attempts this row records: 1, or on a rate-limited row every refused "
        "attempt of its user in that minute.",
    )

    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)

    # What CloudTrail shows for actions taken in the console session. The access key id
    # identifies the credentials; it is not a secret on its own.
    assumed_role_arn = models.CharField(max_length=2048, blank=True)
    access_key_id = models.CharField("temporary access key id", max_length=128, blank=True)
    # Hop 2's AssumedRoleUser.AssumedRoleId, `AROA...:<session name>`: the value of
    # `aws:userid` for this session, which a revocation denies.
    assumed_role_id = models.CharField("assumed role id", max_length=192, blank=True)

    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    revoked_by_name = models.CharField(max_length=254, blank=True)
    revoke_reason = models.CharField(max_length=500, blank=True)
    # The last failed attempt to write the revocation to IAM (retried by the sweep);
    # empty once written.
    revocation_error = models.TextField(blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    # From AWS (hop 2's Credentials.Expiration), never computed locally.
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(
        null=True, blank=True, help_text="When the app recorded the session as ended."
    )

    objects = ConsoleSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("revoke_consolesession", "Can revoke anyone's console sessions")]
        # No index holds `status` or `ended_at`, the two columns the expiry changes, in
        # its key, its INCLUDE or its WHERE: PostgreSQL then records an expiry as a
        # heap-only tuple (HOT) update, a new row version on the same page and no index
        # entry at all, where a change to any indexed column writes one entry in every
        # index of the table (14 here, a partial one when its WHERE holds). That is
        # what lets the sweep record 100,000 missed expiries in about a second
        # (docs/benchmarks.md). The same page needs room for the new version: the
        # table's fillfactor (migration 0012).
        # https://www.postgresql.org/docs/15/storage-hot.html
        # The status filters of the history read these indexes through status_q().
        indexes = [
            models.Index(fields=["created_at"], name="session_created_idx"),
            models.Index(fields=["user", "-created_at"], name="session_user_created_idx"),
            models.Index(fields=["account", "-created_at"], name="session_account_created_idx"),
            # "Failed attempts on this account", the common ops question: the admin's
            # (capped) count and both lists read the failed rows only.
            models.Index(
                fields=["account", "-created_at"],
                condition=FAILED_CONDITION,
                name="session_account_failed_idx",
            ),
            # Pending rows: a handful (requests in flight), and those of crashed
            # requests that the sweep fails.
            models.Index(
                fields=["created_at"], condition=PENDING_CONDITION, name="session_pending_idx"
            ),
            # Revoked sessions: rare, so "revoked" (on one account or all) never walks
            # the history looking for them.
            models.Index(
                fields=["created_at"], condition=REVOKED_CONDITION, name="session_revoked_idx"
            ),
            # "Who held access at T": activated_at <= T < expires_at, where a session
            # lasts at most 1 hour, so the scan is the hour before T on this index.
            models.Index(fields=["activated_at"], name="session_activated_idx"),
            models.Index(fields=["account", "activated_at"], name="session_account_activated_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.user_email} {self.status}"

    @property
    def target_role_name(self) -> str:
        return self.target_role_arn.rsplit("/", 1)[-1]

    @property
    def time_left(self) -> float | None:
        """Seconds until expiry for an active session, else None."""
        if self.status != Status.ACTIVE or self.expires_at is None:
            return None
        return max(0.0, (self.expires_at - timezone.now()).total_seconds())


class LiveSession(models.Model):
    """The Console Sessions that may still be active, with their AWS expiry: one row per
    session, written with its activation (services.session_activate, in the same
    statement) and removed once its expiry is recorded (the expiry task, the sweep).
    The sweep finds the overdue expiries here, and "active" filters read through it.

    Why a table of its own: the sweep's question, "which active sessions are past
    their expiry", needs an index whose content changes when an expiry is recorded,
    and any such index on ConsoleSession would make every expiry write an entry in all
    of that table's indexes (see ConsoleSession.Meta). Here a recorded expiry is one
    small row deleted.

    A row may outlive its session's `active` status (a revocation does not remove it);
    the sweep removes it once its expiry has passed. So: every active session has a row
    here, and a row here says nothing more than "maybe active, check the session".
    """

    session = models.OneToOneField(
        ConsoleSession,
        primary_key=True,
        # Sessions are never deleted while live (access.py removes only a pending row,
        # which has none); DO_NOTHING keeps that delete a single statement.
        on_delete=models.DO_NOTHING,
        related_name="live",
    )
    # The session's expires_at, copied when it is written once, at activation. Null
    # only for rows written outside the services (test fixtures): never due.
    expires_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="live_session_expires_idx")]

    def __str__(self) -> str:
        return f"console session #{self.session_id} live until {self.expires_at}"


class RevocationState(models.TextChoices):
    PENDING = "pending", "Being written"
    WRITTEN = "written", "In force"
    FAILED = "failed", "Write failed (retrying)"
    # Out of the policy: nothing it covered can still be alive.
    PRUNED = "pruned", "Pruned"
    # Past its time without IAM ever taking it: it was never in force (the sessions it
    # named stayed `active` with the error, until they expired).
    ABANDONED = "abandoned", "Never in force"


class RevocationQuerySet(RestrictedQuerySet):
    """Read as the sessions they end are: the audit log files a revocation under its
    account's project (pam_project.querysets.project_id_of), so that project's admins and
    auditors see who revoked what."""

    project_path = "account__resource__project_id"
    role_actions = {"view": HISTORY_READERS}


class Revocation(models.Model):
    """One deny statement in a Target Role's revocation policy (resources/aws/iam.py):
    credentials issued before `before`, of one session (`user_id`) or of every session
    of the role (empty `user_id`), stop working. These rows are the policy's source of
    truth: the document in IAM is rendered from the live rows of its role."""

    account = models.ForeignKey(PamAccount, on_delete=models.PROTECT, related_name="revocations")
    session = models.ForeignKey(
        ConsoleSession, null=True, blank=True, on_delete=models.PROTECT, related_name="revocations"
    )
    target_role_arn = models.CharField("Target Role ARN", max_length=2048)
    user_id = models.CharField("aws:userid", max_length=192, blank=True)
    before = models.DateTimeField(help_text="Credentials issued before this stop working.")
    # Once nothing it covers can be alive: `before` + 1 h (the longest role-chained
    # session) + 5 min of clock skew.
    prune_after = models.DateTimeField()
    state = models.CharField(
        max_length=16, choices=RevocationState.choices, default=RevocationState.PENDING
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_name = models.CharField(max_length=254)
    reason = models.CharField(max_length=500)

    objects = RevocationQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["target_role_arn", "prune_after"], name="revocation_role_idx")
        ]

    def __str__(self) -> str:
        scope = f"session #{self.session_id}" if self.session_id else "all sessions"
        return f"{scope} of {self.target_role_arn.rsplit('/', 1)[-1]} before {self.before:%H:%M:%S}"

    @property
    def sid(self) -> str:
        return f"PamRevocation{self.pk}"


class RoleLock(models.Model):
    """One row per Target Role whose revocation policy this app writes: locked (SELECT
    ... FOR UPDATE) around each read-modify-write, since IAM has no conditional put."""

    target_role_arn = models.CharField(max_length=2048, unique=True)

    def __str__(self) -> str:
        return self.target_role_arn
