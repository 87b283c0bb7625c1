"""One person per email (any case): the RoleSessionName CloudTrail shows names one user."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.urls import reverse

from .factories import UserFactory


def test_the_database_refuses_a_second_user_with_the_same_email_in_any_case(db, bob):
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(username="mallory", email="BOB@Example.com")
    assert not User.objects.filter(username="mallory").exists()


def test_empty_emails_collide_with_nothing(db):
    UserFactory(username="svc1", email="")
    UserFactory(username="svc2", email="")
    assert User.objects.filter(email="").count() == 2


def test_the_admin_refuses_taking_another_users_email(client, alice, bob, charlie):
    """The red team's move: an admin sets their own email to bob's, so their Access would
    show up in CloudTrail as bob."""
    client.force_login(alice)
    url = reverse("admin:auth_user_change", args=[alice.pk])
    page = client.get(url)
    data = {
        field: value
        for field, value in page.context["adminform"].form.initial.items()
        if value is not None and field not in ("groups", "user_permissions", "password")
    }
    data.update(
        {"email": "Bob@example.com", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}
    )
    data.pop("date_joined", None)
    data.pop("last_login", None)
    response = client.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["email"] == [
        'The email "Bob@example.com" already belongs to user "bob": each email names one person.'
    ]
    alice.refresh_from_db()
    assert alice.email != "Bob@example.com"


def test_the_admin_refuses_a_new_user_with_a_taken_email(client, alice, bob):
    client.force_login(alice)
    response = client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "bob2",
            "email": "bob@EXAMPLE.com",
            "password1": "x9!kLm2#qRt7",
            "password2": "x9!kLm2#qRt7",
            "usable_password": "true",
        },
    )
    assert response.status_code == 200
    assert "already belongs to user" in response.context["adminform"].form.errors["email"][0]
    assert not User.objects.filter(username="bob2").exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_refuses_to_run_over_duplicates_and_names_them():
    call_command("migrate", "identity", "zero", verbosity=0)
    try:
        User.objects.create(username="ann", email="ann@example.com")
        User.objects.create(username="ann2", email="ANN@example.com")
        User.objects.create(username="ok", email="ok@example.com")
        with pytest.raises(CommandError) as refused:
            call_command("migrate", "identity", verbosity=0)
        assert "ann <ann@example.com> and ann2 <ANN@example.com>" in str(refused.value)
        assert "ok@example.com" not in str(refused.value)
        User.objects.filter(username="ann2").update(email="ann.two@example.com")
    finally:
        call_command("migrate", "identity", verbosity=0)
    with pytest.raises(IntegrityError):
        User.objects.create(username="ann3", email="Ann@Example.com")


def test_createsuperuser_refuses_an_email_another_user_has(db):
    UserFactory(username="first", email="Root@Example.com")
    with pytest.raises(CommandError, match='already belongs to user "first"'):
        call_command(
            "createsuperuser", username="second", email="root@example.com", interactive=False
        )
    assert not User.objects.filter(username="second").exists()
