"""What every API endpoint shares: scoping, write permissions, errors, form-backed writes.

Writes are validated by the same Django forms as the admin (and so by the same service
checks), so a bad ARN or duration gets the same message, on the same field, everywhere.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import BooleanField, Model, ProtectedError
from django.forms import BaseForm, ModelForm, model_to_dict
from django.http import Http404
from rest_framework import exceptions, permissions, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .forms import ServiceCheckedForm
from .querysets import RestrictedQuerySet
from .scopes import TokenScope

# On answers that carry a credential (a sign-in URL, a new token): kept out of caches
# and out of Referer headers.
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object is in use."
    default_code = "conflict"


class RestrictedWrites(permissions.BasePermission):
    """Reads: any signed-in user (the querysets are narrowed per user by restrict()).
    Writes: only who may change rows of the model (a project's admins, superusers; a
    global model permission is not enough), and each row through restrict() again, so
    an auditor who sees a row gets a 403 and nobody else learns it exists (404)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user.is_authenticated:
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        if view.kwargs.get(getattr(view, "lookup_url_kwarg", None) or view.lookup_field):
            # A write to one row: get_object() answers 404 first for a row outside the
            # caller's reach, so a refusal (403) confirms nothing the caller cannot see.
            return True
        rows = view.get_queryset().model._default_manager.all()
        return isinstance(rows, RestrictedQuerySet) and rows.reaches_any(request.user, "change")

    def has_object_permission(self, request: Request, view: Any, obj: Model) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        action = "delete" if request.method == "DELETE" else "change"
        rows = type(obj)._default_manager.restrict(request.user, action)
        return rows.filter(pk=obj.pk).exists()


def request_fields(request: Request) -> dict[str, Any]:
    """The request body as field -> value, or a 400 if it is not an object."""
    data = request.data
    if hasattr(data, "dict"):  # a QueryDict from a form or multipart body
        return data.dict()
    if not isinstance(data, dict):
        raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
    return dict(data)


def form_errors(form: BaseForm) -> dict[str, list[str]]:
    return {
        ("non_field_errors" if field == "__all__" else field): [str(m) for m in messages]
        for field, messages in form.errors.items()
    }


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(serializers.as_serializer_error(exc))
    elif isinstance(exc, ProtectedError):
        exc = Conflict("This object is still referenced; remove what depends on it first.")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    return drf_exception_handler(exc, context)


class FormWrites:
    """Create/update through a Django form (validation) and a service (the write).

    Subclasses set `create_form` / `update_form` and implement the same hooks as the
    admin's ServiceAdmin: `create_object(form, actor=)`, `update_object(instance, form,
    actor=)`, `delete_object(instance, actor=)`.
    """

    create_form: type[ModelForm]
    update_form: type[ModelForm]
    request: Request

    def bound_form(
        self, form_class: type[ModelForm], instance: Model | None = None, *, partial: bool = False
    ) -> ModelForm:
        data: dict[str, Any] = {}
        if instance is None:
            # A form reads a missing checkbox as False; a JSON body that leaves a boolean
            # out means the model's default (allow_revocation is on for new resources).
            model = form_class._meta.model
            for name in form_class._meta.fields:
                field = model._meta.get_field(name)
                if isinstance(field, BooleanField) and field.has_default():
                    data[name] = field.get_default()
        if instance is not None and partial:
            # PATCH: a field left out keeps its value, as in a form showing it.
            data.update(model_to_dict(instance, fields=list(form_class._meta.fields)))
        data.update(request_fields(self.request))
        kwargs: dict[str, Any] = {"data": data, "instance": instance}
        if issubclass(form_class, ServiceCheckedForm):
            kwargs["actor"] = self.request.user
        form = form_class(**kwargs)
        if not form.is_valid():
            raise exceptions.ValidationError(form_errors(form))
        return form


def _carry_warnings(form: ModelForm, instance: Model) -> None:
    """A ServiceCheckedForm's warnings, for a serializer that declares a read-only
    `warnings` field (source `save_warnings`): on the write's answer only."""
    if isinstance(form, ServiceCheckedForm):
        instance.save_warnings = list(form.warnings)


class ServiceModelViewSet(FormWrites, viewsets.ModelViewSet):
    """CRUD where writes go through a form (validation) and a service (the write)."""

    permission_classes = [TokenScope, RestrictedWrites]
    # Accepted at creation, refused afterwards (the admin shows them read-only).
    immutable_fields: frozenset[str] = frozenset()

    def create_object(self, form: ModelForm, *, actor: AbstractBaseUser) -> Model:
        raise NotImplementedError

    def update_object(self, instance: Model, form: ModelForm, *, actor: AbstractBaseUser) -> Model:
        raise NotImplementedError

    def delete_object(self, instance: Model, *, actor: AbstractBaseUser) -> None:
        raise NotImplementedError

    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        form = self.bound_form(self.create_form)
        instance = self.create_object(form, actor=request.user)
        _carry_warnings(form, instance)
        return Response(self.get_serializer(instance).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: object, **kwargs: object) -> Response:
        instance = self.get_object()
        refused = self.immutable_fields & set(request_fields(request))
        if refused:
            raise serializers.ValidationError(
                {field: ["This field cannot be changed."] for field in sorted(refused)}
            )
        partial = kwargs.get("partial", False)
        form = self.bound_form(self.update_form, instance, partial=partial)
        # The form updated `instance` in memory; the service compares against the row.
        fresh = self.get_queryset().get(pk=instance.pk)
        updated = self.update_object(fresh, form, actor=request.user)
        _carry_warnings(form, updated)
        return Response(self.get_serializer(updated).data)

    def destroy(self, request: Request, *args: object, **kwargs: object) -> Response:
        try:
            self.delete_object(self.get_object(), actor=request.user)
        except DjangoValidationError as exc:
            raise Conflict(exc.messages[0]) from None
        return Response(status=status.HTTP_204_NO_CONTENT)
