"""Observing and breaking the AWS calls the app makes, at the HTTP boundary.

moto answers STS but checks neither trust policies nor ExternalId, so a test that only
looks at moto's answers would pass with a wrong ExternalId. The recorder reads each
request as it leaves botocore (signed, form-encoded) and keeps what was really sent:
the parameters, and the access key / session token that signed it. Faults are injected
at the same point, as real STS error responses that botocore parses and retries as usual.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

_CREDENTIAL = re.compile(r"Credential=([^/]+)/")


class _RawBody:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: object):
        yield self._body

    def read(self, *_: object) -> bytes:
        body, self._body = self._body, b""
        return body


@dataclass
class StsCall:
    operation: str
    params: dict[str, str]
    access_key_id: str
    session_token: str | None
    url: str


@dataclass
class Fault:
    operation: str
    role_arn: str | None
    kind: str  # "error" | "timeout" | "refused" | "malformed"
    status: int = 403
    code: str = "AccessDenied"
    message: str = "Not authorized to perform sts:AssumeRole"
    times: int | None = None  # None: every time


def sts_error_response(url: str, status: int, code: str, message: str) -> AWSResponse:
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    ).encode()
    return AWSResponse(url, status, {"Content-Type": "text/xml"}, _RawBody(body))


@dataclass
class AwsRecorder:
    calls: list[StsCall] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    # What STS answered to each successful AssumeRole, as botocore parsed it.
    answers: list[dict] = field(default_factory=list)

    def install(self, boto_session) -> None:
        # First, so that an injected error wins over moto's own answer.
        boto_session.events.register_first("before-send.sts", self._before_send)
        boto_session.events.register("after-call.sts.AssumeRole", self._after_call)

    def _after_call(self, http_response, parsed, **_: object) -> None:
        if http_response.status_code == 200:
            self.answers.append(parsed)

    def _before_send(self, request, **_: object):
        body = request.body
        if isinstance(body, bytes):
            body = body.decode()
        params = {k: v[0] for k, v in parse_qs(body or "").items()}
        operation = params.pop("Action", "?")
        params.pop("Version", None)
        auth = request.headers.get("Authorization", b"")
        auth = auth.decode() if isinstance(auth, bytes) else auth
        token = request.headers.get("X-Amz-Security-Token")
        token = token.decode() if isinstance(token, bytes) else token
        match = _CREDENTIAL.search(auth)
        self.calls.append(
            StsCall(operation, params, match.group(1) if match else "", token, request.url)
        )
        for fault in self.faults:
            if fault.operation != operation:
                continue
            if fault.role_arn is not None and params.get("RoleArn") != fault.role_arn:
                continue
            if fault.times is not None:
                if fault.times <= 0:
                    continue
                fault.times -= 1
            if fault.kind == "timeout":
                raise ReadTimeoutError(endpoint_url=request.url)
            if fault.kind == "refused":
                raise EndpointConnectionError(endpoint_url=request.url)
            if fault.kind == "malformed":
                return AWSResponse(
                    request.url,
                    200,
                    {"Content-Type": "text/xml"},
                    _RawBody(b"<html><body>Gateway says hi</body>"),
                )
            return sts_error_response(request.url, fault.status, fault.code, fault.message)
        return None

    def fail(
        self,
        role_arn: str | None = None,
        *,
        operation: str = "AssumeRole",
        kind: str = "error",
        status: int = 403,
        code: str = "AccessDenied",
        message: str = "Not authorized to perform sts:AssumeRole",
        times: int | None = None,
    ) -> Fault:
        fault = Fault(operation, role_arn, kind, status, code, message, times)
        self.faults.append(fault)
        return fault

    def assume_role_calls(self) -> list[StsCall]:
        return [c for c in self.calls if c.operation == "AssumeRole"]


@dataclass
class FederationCall:
    url: str
    session: dict
    query: dict[str, str]


@dataclass
class FederationFake:
    """A `responses` callback standing in for the federation endpoint."""

    token: str = "SIGNIN-TOKEN-0123456789abcdef-fake"
    calls: list[FederationCall] = field(default_factory=list)
    answer: Callable[[FederationCall], tuple[int, dict, str]] | None = None

    def __call__(self, request):
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        session = json.loads(query.get("Session", "{}"))
        call = FederationCall(request.url, session, query)
        self.calls.append(call)
        if self.answer is not None:
            return self.answer(call)
        return 200, {"Content-Type": "application/json"}, json.dumps({"SigninToken": self.token})
