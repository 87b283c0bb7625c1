from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from pam_project.admin import RestrictedInline, ServiceAdmin, copyable
from pam_project.forms import form_changes
from resources import aws
from resources.policies import (
    as_json,
    resource_role_permissions_policy,
    target_role_trust_policy,
)

from . import services, tokens
from .forms import GrantForm, PamAccountForm
from .models import AccountGrant, ApiToken, PamAccount

ACCOUNT_MAIN_FIELDS = [
    "resource",
    "name",
    "description",
    "target_role_arn",
    "session_duration",
    "require_mfa",
    "allow_cli_credentials",
]
ACCOUNT_JIT_FIELDS = [
    "approver_users",
    "approver_groups",
    "approvals_required",
    "max_window",
    "break_glass",
]
ACCOUNT_CONSOLE_FIELDS = [
    "default_region",
    "allowed_regions",
    "default_service",
    "allowed_services",
]


class GrantInline(RestrictedInline, admin.TabularInline):
    model = AccountGrant
    form = GrantForm
    extra = 1
    fields = ["user", "group", "kind", "created_by", "created_at"]
    readonly_fields = ["created_by", "created_at"]
    autocomplete_fields = ["user", "group"]
    verbose_name = "grant"
    verbose_name_plural = "Grants: who may Access this account (nobody by default)"

    def get_formset(self, request: HttpRequest, obj: Model | None = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        # Each row checks that it names neither the person saving nor a group of theirs.
        actor = request.user

        class WithActor(formset.form):
            def __init__(self, *args: Any, **kw: Any) -> None:
                kw.setdefault("actor", actor)
                super().__init__(*args, **kw)

        formset.form = WithActor
        return formset


@admin.register(PamAccount)
class PamAccountAdmin(ServiceAdmin):
    form = PamAccountForm
    inlines = [GrantInline]
    list_display = ["name", "resource", "target_role_arn", "duration", "require_mfa"]
    list_display += ["approvals_required", "window", "break_glass", "validated_at"]
    list_filter = ["resource__project", "resource", "require_mfa", "break_glass"]
    list_select_related = ["resource__project"]
    search_fields = ["name", "target_role_arn", "resource__name", "resource__project__name"]
    # Thousands of users do not fit in a select box: search them, as grants do.
    autocomplete_fields = ["resource", "approver_users", "approver_groups"]
    # What to create in AWS before saving (the save assumes both roles): on the add form
    # too, once a resource is chosen (?resource=, or the first save attempt).
    policy_fields = ["target_role_trust_policy", "resource_role_permissions"]
    readonly_fields = ["validated_at", *policy_fields]

    class Media:
        js = ["pam/account-form.js"]

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None) -> list:
        if obj is None:
            main = [*ACCOUNT_MAIN_FIELDS, *self.policy_fields]
        else:
            main = [*ACCOUNT_MAIN_FIELDS, *self.readonly_fields]
        return [
            (None, {"fields": main}),
            (
                "Just-in-time access",
                {
                    "fields": ACCOUNT_JIT_FIELDS,
                    "description": "For eligible grants: who decides requests (never "
                    "their own), how many approvals, the longest window, and whether "
                    "break-glass may open one at once.",
                },
            ),
            (
                "Console: where Access lands",
                {
                    "fields": ACCOUNT_CONSOLE_FIELDS,
                    "description": "The region and service the console opens on, and the "
                    "ones the Access button offers in a picker (more than one of either). "
                    "Regions must be of the Target Role's partition; all empty: the "
                    "console's home page. Hold Ctrl (or Cmd) to select several.",
                },
            ),
        ]

    @admin.display(description="longest window", ordering="max_window")
    def window(self, obj: PamAccount) -> str:
        return obj.max_window_text

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        # An account never moves to another resource: its sessions' history refers to it.
        return ["resource", *self.readonly_fields] if obj is not None else self.policy_fields

    @admin.display(description="session duration", ordering="session_duration")
    def duration(self, obj: PamAccount) -> str:
        return obj.duration_text

    @admin.display(description="Target Role trust policy")
    def target_role_trust_policy(self, obj: PamAccount) -> SafeString:
        # On the add form `obj` is the unsaved account: its resource is the one chosen
        # (PamAccountForm sets it, from resources the person may change, and only those).
        if obj.resource_id is None:
            return format_html(
                "<p id='pam-account-policies-pending'>Choose the resource first: this "
                "policy names its Resource Role and its project's External ID. "
                "<a id='pam-account-policies-show' href='' hidden>Show the policies of the "
                "chosen resource</a> (reloads this form; nothing is saved)</p>"
            )
        resource = obj.resource
        policy = target_role_trust_policy(
            resource_role_arn=resource.resource_role_arn,
            external_id=resource.project.external_id,
            source_identity=resource.set_source_identity,
            tag_session=resource.tag_session,
        )
        return format_html(
            "<div id='pam-account-policies' data-resource='{}'>{}<div class='help'>Create "
            "the Target Role in AWS with this trust policy before saving (the save assumes "
            "it): it lets the Resource Role of {} assume the role, with this project's "
            "External ID.</div></div>",
            resource.pk,
            copyable(as_json(policy), "pam-target-trust-policy", block=True),
            resource,
        )

    @admin.display(description="Resource Role permissions policy")
    def resource_role_permissions(self, obj: PamAccount) -> SafeString:
        if obj.resource_id is None:
            return format_html("<p class='help'>Shown once the resource is chosen.</p>")
        resource = obj.resource
        targets = list(resource.accounts.values_list("target_role_arn", flat=True))
        if obj.target_role_arn and obj.target_role_arn not in targets:
            targets.append(obj.target_role_arn)
        role = aws.parse_role_arn(resource.resource_role_arn)
        policy = resource_role_permissions_policy(
            account_id=role.account_id,
            partition=role.partition,
            source_identity=resource.set_source_identity,
            tag_session=resource.tag_session,
            allow_revocation=resource.allow_revocation,
            resource_role_arn=resource.resource_role_arn,
            target_role_arns=targets,
        )
        return format_html(
            "{}<div class='help'>The Resource Role ({}) needs this permissions policy: "
            "sts:AssumeRole on the Target Role{}. The same document as on the resource's "
            "page, with this account's Target Role included.</div>",
            copyable(as_json(policy), "pam-permissions-policy", block=True),
            resource.resource_role_arn,
            ", and reading and writing its revocation policy" if resource.allow_revocation else "",
        )

    def create_object(self, form: forms.ModelForm, *, actor: AbstractBaseUser) -> PamAccount:
        return services.account_create(actor=actor, checked=True, **form.cleaned_data)

    def update_object(
        self, instance: PamAccount, form: forms.ModelForm, *, actor: AbstractBaseUser
    ) -> PamAccount:
        return services.account_update(
            account=instance, actor=actor, checked=True, **form_changes(form)
        )

    def delete_object(self, instance: PamAccount, *, actor: AbstractBaseUser) -> None:
        services.account_delete(account=instance, actor=actor)

    def save_formset(
        self,
        request: HttpRequest,
        form: forms.ModelForm,
        formset: BaseInlineFormSet,
        change: bool,
    ) -> None:
        if formset.model is not AccountGrant:
            return super().save_formset(request, form, formset, change)
        account = form.instance
        # The admin's change message reads these three lists, which formset.save() would
        # have filled.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for grant_form in formset.deleted_forms:
            if grant_form.instance.pk:
                services.grant_delete(grant=grant_form.instance, actor=request.user)
                formset.deleted_objects.append(grant_form.instance)
        for grant_form in formset.forms:
            if grant_form in formset.deleted_forms or not grant_form.has_changed():
                continue
            if grant_form.instance.pk:
                # An edited grant is a different grant: revoke the old one, grant the new.
                old = AccountGrant.objects.get(pk=grant_form.instance.pk)
                services.grant_delete(grant=old, actor=request.user)
                formset.deleted_objects.append(old)
            formset.new_objects.append(
                services.grant_create(
                    account=account,
                    user=grant_form.cleaned_data.get("user"),
                    group=grant_form.cleaned_data.get("group"),
                    kind=grant_form.cleaned_data.get("kind"),
                    actor=request.user,
                )
            )
        return None


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Everyone's API tokens, for admins to see and revoke. Read-only: a token is made by
    its owner (POST /api/v1/tokens/, shown once) and only ever revoked."""

    list_display = ["name", "user", "prefix", "scope", "created_at", "expires_at", "last_used_at"]
    list_display += ["revoked_at"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username", "user__email"]
    readonly_fields = [f.name for f in ApiToken._meta.fields if f.name != "digest"]
    exclude = ["digest"]
    actions = ["revoke"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        return super().get_queryset(request).restrict(request.user)

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.delete_apitoken")

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset.filter(revoked_at__isnull=True):
            tokens.token_revoke(token=token, actor=request.user)
        self.message_user(request, "Revoked. They stop working at once.")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        # Django looks the row up before it checks the permission: with the list narrowed
        # to one's own tokens, staff without it got "does not exist" here and a 403 on
        # every other page of the model. The permission first, as the change page does.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return super().history_view(request, object_id, extra_context)

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        # Revoking keeps the row (it shows what existed); deleting it would not.
        return False
