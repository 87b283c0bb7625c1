"""Test data. Factories write rows directly (no AWS check); tests of the checks call the
services instead."""

from __future__ import annotations

import factory
from django.contrib.auth.models import Group, User
from factory.django import DjangoModelFactory

from accounts.models import AccountGrant, PamAccount
from resources.models import AwsIamResource, Project, ProjectRole
from sessions_app.models import ConsoleSession, FailureStep, LiveSession, Status

CUSTOMER_ACCOUNT = "111122223333"
RESOURCE_ROLE_ARN = f"arn:aws:iam::{CUSTOMER_ACCOUNT}:role/pam-resource"
TARGET_ROLE_ARN = f"arn:aws:iam::{CUSTOMER_ACCOUNT}:role/pam-readonly"
PASSWORD = "correct horse battery staple"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class GroupFactory(DjangoModelFactory):
    class Meta:
        model = Group

    name = factory.Sequence(lambda n: f"group{n}")


class ProjectFactory(DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"project-{n}")


class ResourceFactory(DjangoModelFactory):
    class Meta:
        model = AwsIamResource

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"resource-{n}")
    resource_role_arn = RESOURCE_ROLE_ARN


class AccountFactory(DjangoModelFactory):
    class Meta:
        model = PamAccount

    resource = factory.SubFactory(ResourceFactory)
    name = factory.Sequence(lambda n: f"account-{n}")
    target_role_arn = TARGET_ROLE_ARN
    session_duration = 1800


class GrantFactory(DjangoModelFactory):
    class Meta:
        model = AccountGrant

    account = factory.SubFactory(AccountFactory)


class ConsoleSessionFactory(DjangoModelFactory):
    class Meta:
        model = ConsoleSession
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    user_email = factory.LazyAttribute(lambda s: s.user.email)
    account = factory.SubFactory(AccountFactory)
    target_role_arn = factory.LazyAttribute(lambda s: s.account.target_role_arn)
    resource_role_arn = factory.LazyAttribute(lambda s: s.account.resource.resource_role_arn)
    role_session_name = factory.LazyAttribute(lambda s: s.user_email)
    duration_seconds = 1800
    status = Status.PENDING
    # A failed row always says where it stopped (services.session_fail), and the status
    # filter relies on it (models.status_q).
    failure_step = factory.LazyAttribute(
        lambda s: FailureStep.TARGET_ROLE if s.status == Status.FAILED else ""
    )

    @factory.post_generation
    def live_row(obj, create, extracted, **kwargs):
        """An active session has its LiveSession row, as session_activate writes it."""
        if create and obj.status == Status.ACTIVE:
            LiveSession.objects.create(session=obj, expires_at=obj.expires_at)


class ProjectRoleFactory(DjangoModelFactory):
    class Meta:
        model = ProjectRole

    project = factory.SubFactory(ProjectFactory)
    role = "admin"
