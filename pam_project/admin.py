"""The admin base every app's ModelAdmin for configuration shares.

Saves and deletes go through the app's services (validation, the AWS check, the audit
event) with the same hooks as the API's viewsets (pam_project/api.py):
`create_object(form, actor=)`, `update_object(instance, form, actor=)`,
`delete_object(instance, actor=)`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, QuerySet
from django.db.models.fields import AutoFieldMixin
from django.http import Http404, HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .forms import ServiceCheckedForm
from .querysets import RestrictedQuerySet


def copyable(text: str, element_id: str, *, block: bool = False) -> SafeString:
    """Read-only text with a Copy button (static/pam/copy.js; no inline script)."""
    tag = "pre" if block else "code"
    return format_html(
        '<{tag} id="{id}" class="pam-copy-source">{text}</{tag}> '
        '<button type="button" class="button pam-copy" data-copy-target="{id}">Copy</button>',
        tag=tag,
        id=element_id,
        text=text,
    )


def is_autocomplete(request: HttpRequest) -> bool:
    """The admin's autocomplete lookup (a select2 box on another model's form)."""
    match = getattr(request, "resolver_match", None)
    return bool(match and match.url_name == "autocomplete")


class RestrictedAdmin(admin.ModelAdmin):
    """An admin whose lists, pages and buttons follow restrict() (pam_project/querysets.py)
    instead of Django's global model permissions: a project admin sees and changes their
    projects' rows, an auditor reads them, and a row outside is a 404 (the admin answers a
    change page it may not show with "doesn't exist")."""

    def _rows(self) -> QuerySet:
        return self.model._default_manager.all()

    def _restricted(self) -> bool:
        return isinstance(self._rows(), RestrictedQuerySet)

    def _may(self, request: HttpRequest, action: str, obj: Model | None) -> bool:
        rows = self._rows()
        if obj is None:
            return rows.reaches_any(request.user, action)
        return rows.restrict(request.user, action).filter(pk=obj.pk).exists()

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if not isinstance(queryset, RestrictedQuerySet):
            return queryset
        # A select2 box on a form offers only what may be chosen there: rows one may
        # change (a project admin's resources, not an audited project's).
        action = "change" if is_autocomplete(request) else "view"
        return queryset.restrict(request.user, action)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """The add form's ?field=value presets, without the ids that name no row: Django
        passes `?resource=abc` on to the autocomplete widget, whose lookup then failed
        with a 500. An id that is not a number is dropped, as if not given."""
        initial = super().get_changeform_initial_data(request)
        for name, value in list(initial.items()):
            try:
                field = self.opts.get_field(name)
            except FieldDoesNotExist:
                continue
            if not field.is_relation or not isinstance(
                field.target_field if field.many_to_one else field.related_model._meta.pk,
                AutoFieldMixin,
            ):
                continue
            values = value if isinstance(value, list) else [value]
            if not all(str(v).isdigit() for v in values):
                del initial[name]
        return initial

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Model | None:
        # Django answers a row outside get_queryset() with a redirect and "doesn't
        # exist?"; a 404 says the same and is what every other page answers.
        obj = super().get_object(request, object_id, from_field)
        if obj is None and self._restricted():
            raise Http404(f"No {self.opts.verbose_name} with id {object_id!r} here.")
        return obj

    def has_module_permission(self, request: HttpRequest) -> bool:
        if not self._restricted():
            return super().has_module_permission(request)
        return self.has_view_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if not self._restricted():
            return super().has_view_permission(request, obj)
        return self._may(request, "view", obj) or self._may(request, "change", obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if not self._restricted():
            return super().has_change_permission(request, obj)
        return self._may(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if not self._restricted():
            return super().has_delete_permission(request, obj)
        return self._may(request, "delete", obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        if not self._restricted():
            return super().has_add_permission(request)
        # Adding a row means choosing a project (or a resource, an account) one
        # administers: the form's choices are narrowed to those.
        return self._may(request, "change", None)


class RestrictedInline(admin.options.InlineModelAdmin):
    """An inline whose rows belong to the parent's project (an account's grants): it is
    shown to who may see the parent and editable by who may change the parent, instead
    of by Django's global permissions on the inline's model."""

    def _parent_may(self, request: HttpRequest, action: str, obj: Model | None) -> bool:
        rows = self.parent_model._default_manager.all()
        if obj is None:
            return rows.reaches_any(request.user, action)
        return rows.restrict(request.user, action).filter(pk=obj.pk).exists()

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._parent_may(request, "view", obj)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._parent_may(request, "change", obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._parent_may(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._parent_may(request, "change", obj)


class ServiceAdmin(RestrictedAdmin):
    """Saves through the app's services instead of ModelForm.save().

    A ServiceCheckedForm has already run the service's AWS check during validation, so
    the hooks tell the service `checked=True` and the roles are assumed once per save.
    """

    class Media:
        js = ["pam/copy.js"]

    def create_object(self, form: forms.ModelForm, *, actor: AbstractBaseUser) -> Model:
        raise NotImplementedError

    def update_object(
        self, instance: Model, form: forms.ModelForm, *, actor: AbstractBaseUser
    ) -> Model:
        raise NotImplementedError

    def delete_object(self, instance: Model, *, actor: AbstractBaseUser) -> None:
        raise NotImplementedError

    def get_form(
        self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if not issubclass(form_class, ServiceCheckedForm):
            return form_class
        actor = request.user

        class WithActor(form_class):  # the admin builds forms itself: bind the actor here
            def __init__(self, *args: Any, **kw: Any) -> None:
                kw.setdefault("actor", actor)
                super().__init__(*args, **kw)

        WithActor.__name__ = form_class.__name__
        return WithActor

    def save_form(self, request: HttpRequest, form: forms.ModelForm, change: bool) -> Model:
        if change:
            # The form changed form.instance in memory; the service compares the row.
            stored = type(form.instance)._default_manager.get(pk=form.instance.pk)
            saved = self.update_object(stored, form, actor=request.user)
        else:
            saved = self.create_object(form, actor=request.user)
        # Inline formsets were built around form.instance; they read the saved one here.
        form.instance = saved
        # What the AWS check noticed without refusing the save (ServiceCheckedForm).
        for warning in getattr(form, "warnings", []):
            messages.warning(request, warning)
        return saved

    def save_model(
        self, request: HttpRequest, obj: Model, form: forms.ModelForm, change: bool
    ) -> None:
        """Already saved by the service in save_form."""

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: list, change: bool
    ) -> None:
        # The service saved the object and these forms have no many-to-many fields, so
        # there is no form.save_m2m() to call; inlines still save through save_formset.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        # The admin's confirmation page has already listed what blocks the deletion
        # (PROTECTed children, console sessions); the service enforces it again.
        self.delete_object(obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        # The "delete selected" action checks only that some row may be deleted.
        if isinstance(queryset, RestrictedQuerySet):
            queryset = queryset.restrict(request.user, "delete")
        for obj in queryset:
            self.delete_object(obj, actor=request.user)
