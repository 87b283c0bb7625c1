"""A bounded property-based run of the whole API from its own OpenAPI document:
whatever schemathesis sends (valid and invalid input), as an admin with a token, no
answer is a server error.

Access (POST /accounts/{id}/access/) succeeds here (moto and a mocked federation
endpoint), and so do revocations (the Target Role exists in moto's IAM), so their
documented 502/503 answers for AWS failures do not occur.

schemathesis's own pytest plugin does not run on pytest 9 yet, so operations are driven
through its strategies directly.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from accounts import tokens

from .factories import AccountFactory, ConsoleSessionFactory, GrantFactory
from .test_revocation import target as target  # the Target Role, in moto's IAM

MAX_EXAMPLES = 20


@pytest.fixture
def wsgi_app(db):
    # As Django's test client does: the WSGI handler would otherwise close the test's
    # database connection (and its transaction) after every request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_no_request_makes_the_api_fail(wsgi_app, alice, federation, target):
    account = AccountFactory()
    GrantFactory(account=account, user=alice)
    ConsoleSessionFactory(user=alice, account=account)
    token = tokens.token_create(user=alice, name="schemathesis", scope="admin")[1]
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case):
                case.call_and_validate(headers=headers, checks=[not_a_server_error])

            run()
