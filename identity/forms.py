from __future__ import annotations

from django import forms

from .models import Preferences


class PreferencesForm(forms.ModelForm):
    class Meta:
        model = Preferences
        fields = ["logout_first"]
        labels = {"logout_first": "Sign out of the previous AWS console first"}
        help_texts = {
            "logout_first": "Off (the default): each Access opens beside the consoles you "
            "already have, as AWS's multi-session console allows (up to 5 at once). On: each "
            "Access first signs this browser out of the AWS console, so only the new session "
            "stays signed in."
        }
