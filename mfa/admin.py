"""Second-factor devices in the admin: read-only, for support (who has what, when last
used), and removable (audited) when someone has lost theirs. No seed, no code shown."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django_otp.models import Device
from django_otp_webauthn.models import WebAuthnCredential

from . import services
from .models import RecoveryCodeSet, TotpDevice


class DeviceAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "confirmed", "created_at", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__email", "name"]
    raw_id_fields = ["user"]
    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [f.name for f in self.model._meta.fields if f.editable]

    def get_exclude(self, request: HttpRequest, obj: object = None) -> list[str]:
        return ["sealed_key"] if self.model is TotpDevice else []

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Device) -> None:
        services.device_remove(device=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for device in queryset:
            services.device_remove(device=device, actor=request.user)


@admin.register(TotpDevice)
class TotpDeviceAdmin(DeviceAdmin):
    pass


@admin.register(RecoveryCodeSet)
class RecoveryCodeSetAdmin(DeviceAdmin):
    pass


@admin.register(WebAuthnCredential)
class PasskeyAdmin(DeviceAdmin):
    """django-otp-webauthn's credentials (public keys only), removable with an audit event."""
