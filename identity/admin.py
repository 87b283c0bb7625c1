"""Users in the admin: Django's UserAdmin, refusing an email another user has."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm

from .emails import clash_message

User = get_user_model()


class UniqueEmailMixin(forms.ModelForm):
    def clean_email(self) -> str:
        email = (self.cleaned_data.get("email") or "").strip()
        problem = clash_message(email, User.objects.all(), exclude_pk=self.instance.pk)
        if problem:
            raise forms.ValidationError(problem, code="email_taken")
        return email


class PamUserChangeForm(UniqueEmailMixin, UserChangeForm):
    pass


class PamUserCreationForm(UniqueEmailMixin, UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")


admin.site.unregister(User)


@admin.register(User)
class PamUserAdmin(UserAdmin):
    form = PamUserChangeForm
    add_form = PamUserCreationForm
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "email", "password1", "password2")}),
    )
