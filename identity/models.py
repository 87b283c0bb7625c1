"""Who a person is at the identity provider, and which groups the IdP manages.

A person signing in by SSO is matched by (issuer, subject) and never by email: an email
can be reassigned at the IdP, the `sub` of one issuer never is (OpenID Connect Core 1.0,
section 5.7: "The sub (subject) and iss (issuer) Claims, used together, are the only
Claims that an RP can rely upon as a stable identifier for the End-User").
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models


class SsoIdentity(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identities"
    )
    issuer = models.CharField(max_length=255)
    # OpenID Connect Core 1.0 section 2: sub is at most 255 ASCII characters.
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "SSO identity"
        verbose_name_plural = "SSO identities"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_unique")
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class IdpGroup(models.Model):
    """Marks a Django group as mirrored from the IdP: its members are set at each sign-in,
    so the admin shows them read-only (a hand-made change would be undone, or worse,
    would outlive the person's removal at the IdP until their next sign-in)."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="idp")
    issuer = models.CharField(max_length=255)
    # The value in the groups claim (the Django group's name may differ when a local
    # group already had that name).
    claim_value = models.CharField(max_length=255)

    class Meta:
        verbose_name = "IdP-managed group"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "claim_value"], name="idp_group_unique")
        ]

    def __str__(self) -> str:
        return f"{self.claim_value} (from {self.issuer})"


class Preferences(models.Model):
    """A person's own settings for how the console opens (SPEC "The console
    experience"). No row: the defaults."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pam_preferences"
    )
    # AWS's multi-session console keeps up to 5 sessions side by side, so by default a
    # new sign-in does not end the previous one; some people prefer one at a time.
    logout_first = models.BooleanField(
        "sign out of the previous console first",
        default=False,
        help_text="Each Access first signs the browser out of the AWS console it is "
        "signed in to, so only the new session stays open.",
    )

    class Meta:
        verbose_name_plural = "preferences"

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"
