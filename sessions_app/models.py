from __future__ import annotations

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
    # Every index costs each status change (the sweep rewrites up to thousands of rows a
    # minute after an outage), so none is kept twice.
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
        indexes = [
            models.Index(fields=["created_at"], name="session_created_idx"),
            models.Index(fields=["user", "-created_at"], name="session_user_created_idx"),
            models.Index(fields=["account", "-created_at"], name="session_account_created_idx"),
            # "Failed attempts on this account", the common ops question: the admin's
            # (capped) count and both lists read it without touching the table.
            models.Index(
                fields=["account", "status", "-created_at"], name="session_account_status_idx"
            ),
            # The sweep: active rows past expires_at (a partial index: it holds only the
            # sessions active now, a few hundred rows), pending rows past the timeout
            # (with the status filter of the admin and the API).
            models.Index(
                fields=["expires_at"],
                condition=models.Q(status="active"),
                name="session_active_expires_idx",
            ),
            models.Index(fields=["status", "created_at"], name="session_status_created_idx"),
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
