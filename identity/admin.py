"""Users and groups in the admin: Django's own, refusing an email another user has, and
keeping IdP-managed group memberships out of reach (the IdP sets them at each sign-in)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.contrib.auth.models import Group
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from pam_project.admin import is_autocomplete
from pam_project.roles import administers

from .emails import clash_message
from .models import IdpGroup, SsoIdentity

User = get_user_model()


class UniqueEmailMixin(forms.ModelForm):
    def clean_email(self) -> str:
        email = (self.cleaned_data.get("email") or "").strip()
        problem = clash_message(email, User.objects.all(), exclude_pk=self.instance.pk)
        if problem:
            raise forms.ValidationError(problem, code="email_taken")
        return email


# What confers access on the user it is set on: nobody sets these on themselves, not
# even a superuser (SPEC "Nobody confers access on themselves"); another admin must.
SELF_LOCKED_FIELDS = ("groups", "user_permissions", "is_staff", "is_superuser", "is_active")


class PamUserChangeForm(UniqueEmailMixin, UserChangeForm):
    # Set by PamUserAdmin.get_form: the person saving.
    actor: Any = None

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        if "groups" in self.fields:
            self.fields["groups"].queryset = Group.objects.filter(idp__isnull=True)
            self.fields["groups"].help_text = (
                "Local groups only. Groups from the identity provider are set at each "
                "sign-in and shown read-only below."
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        actor = self.actor
        if actor is not None and self.instance.pk == actor.pk:
            for name in SELF_LOCKED_FIELDS:
                if name in self.changed_data:
                    label = self.fields[name].label or name
                    self.add_error(
                        name,
                        forms.ValidationError(
                            f"You cannot change your own {str(label).lower()} (it decides "
                            "what you may do): another admin must do it.",
                            code="self_conferred",
                        ),
                    )
        return data

    def clean_groups(self) -> QuerySet:
        # The IdP's groups are not in the choices, so saving the form keeps them as they
        # are instead of dropping them.
        chosen = self.cleaned_data["groups"]
        kept = self.instance.groups.filter(idp__isnull=False) if self.instance.pk else []
        return Group.objects.filter(Q(pk__in=chosen) | Q(pk__in=[g.pk for g in kept]))


class PamUserCreationForm(UniqueEmailMixin, UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")


admin.site.unregister(User)


class SsoIdentityInline(admin.TabularInline):
    """Read-only: linking an IdP subject to a user by hand would hand that user's access
    to whoever holds the subject."""

    model = SsoIdentity
    extra = 0
    can_delete = False
    fields = readonly_fields = ("issuer", "subject", "created_at", "last_sign_in_at")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(User)
class PamUserAdmin(UserAdmin):
    form = PamUserChangeForm
    add_form = PamUserCreationForm
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "email", "password1", "password2")}),
    )
    inlines = [SsoIdentityInline]
    readonly_fields = ("idp_groups",)
    fieldsets = (
        *UserAdmin.fieldsets[:2],
        (
            UserAdmin.fieldsets[2][0],
            {"fields": (*UserAdmin.fieldsets[2][1]["fields"], "idp_groups")},
        ),
        *UserAdmin.fieldsets[3:],
    )

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> type:
        form = super().get_form(request, obj, **kwargs)
        if issubclass(form, PamUserChangeForm):
            form = type(form.__name__, (form,), {"actor": request.user})
        return form

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A project admin picks people for grants, approvers and roles in select2 boxes
        # (the admin's autocomplete asks this question of the User admin), without being
        # able to open anyone's user page.
        if obj is None and is_autocomplete(request) and administers(request.user):
            return True
        return super().has_view_permission(request, obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        users = super().get_queryset(request)
        if is_autocomplete(request) and not request.user.has_perm("auth.view_user"):
            return users.filter(is_active=True)
        return users

    @admin.display(description="Groups from the identity provider")
    def idp_groups(self, user: User) -> str:
        names = user.groups.filter(idp__isnull=False).values_list("name", flat=True)
        return ", ".join(names) or "none"


admin.site.unregister(Group)


@admin.register(Group)
class PamGroupAdmin(GroupAdmin):
    list_display = ("name", "managed_by")
    list_filter = (("idp", admin.EmptyFieldListFilter),)

    @admin.display(description="Members set by")
    def managed_by(self, group: Group) -> str:
        idp = IdpGroup.objects.filter(group=group).first()
        return f"the identity provider ({idp.issuer})" if idp else "administrators"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("idp")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is None and is_autocomplete(request) and administers(request.user):
            return True
        return super().has_view_permission(request, obj)

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> type:
        form = super().get_form(request, obj, **kwargs)
        actor = request.user

        class RefusingOwnGroup(form):
            def clean_permissions(self) -> QuerySet:
                chosen = self.cleaned_data["permissions"]
                if (
                    self.instance.pk
                    and "permissions" in self.changed_data
                    and actor.groups.filter(pk=self.instance.pk).exists()
                ):
                    raise forms.ValidationError(
                        "You are in this group, so you cannot change its permissions: "
                        "another admin must do it.",
                        code="self_conferred",
                    )
                return chosen

        RefusingOwnGroup.__name__ = form.__name__
        return RefusingOwnGroup
