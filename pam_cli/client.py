"""The server's REST API, as the command uses it: JSON in and out, the token in the
Authorization header, and every failure turned into one readable line (CliError)."""

from __future__ import annotations

import platform
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from . import __version__
from .config import Config
from .errors import CliError

# (connect, read) seconds. An Access runs two STS calls (and, for the console, the
# federation endpoint) on the server: seconds, rarely more.
TIMEOUT = (10, 90)
# Pages of a list pam reads at most: 100,000 rows at the API's 100 a page.
MAX_PAGES = 1000
USER_AGENT = f"pam-cli/{__version__} (Python {platform.python_version()})"


class ApiError(CliError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _field_errors(data: Mapping[str, Any]) -> str:
    """{"duration": ["..."], "reason": ["..."]} -> "duration: ...; reason: ..."."""
    parts = []
    for name, messages in data.items():
        if isinstance(messages, list):
            text = " ".join(str(m) for m in messages)
        elif isinstance(messages, dict):
            text = _field_errors(messages)
        else:
            text = str(messages)
        parts.append(text if name in ("detail", "non_field_errors") else f"{name}: {text}")
    return "; ".join(parts)


def error_message(response: requests.Response) -> str:
    """The server's own words for a refusal, on one line."""
    try:
        data = response.json()
    except ValueError:
        data = None
    status = response.status_code
    if isinstance(data, dict) and "step" in data and "session_id" in data:
        # A failed Access (sessions_app/api.py): the step it stopped at, AWS's code, and
        # what to check; recorded on the server as that console session.
        message = f"Access failed at step {data['step']} ({data.get('code') or 'no code'})"
        if data.get("message"):
            message += f": {data['message']}"
        message += f" [console session {data['session_id']}]"
        checks = [str(c) for c in data.get("checks") or []]
        if checks:
            message += ". Check: " + " ".join(checks)
        if response.headers.get("Retry-After"):
            message += f" Retry after {response.headers['Retry-After']} s."
        return " ".join(message.split())
    if isinstance(data, dict) and data:
        message = _field_errors(data)
    elif isinstance(data, list) and data:
        message = "; ".join(str(m) for m in data)
    else:
        message = f"HTTP {status} {response.reason or ''}".strip()
        if status < 500:
            message += f" from {response.url}: is this the PAM server's URL?"
    if status == 401:
        message += " Run `pam login` with a valid token."
    return " ".join(message.split())


class Api:
    def __init__(self, config: Config, session: requests.Session | None = None) -> None:
        self.base = config.url
        self.session = session or requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {config.token}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            }
        )

    def url(self, path: str) -> str:
        return f"{self.base}/api/v1/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        url = self.url(path)
        try:
            # No redirects: a redirect would re-send the request elsewhere (and a POST as
            # a GET); the person should log in at the address the server answers on.
            response = self.session.request(
                method,
                url,
                params=params,
                json=body,
                timeout=TIMEOUT,
                allow_redirects=False,
            )
        except requests.Timeout:
            raise CliError(f"{self.base} did not answer within {TIMEOUT[1]} s") from None
        except requests.ConnectionError as exc:
            raise CliError(f"cannot reach {self.base}: {_reason(exc)}") from None
        except requests.RequestException as exc:
            raise CliError(f"request to {self.base} failed: {_reason(exc)}") from None
        if response.is_redirect:
            where = response.headers.get("Location", "?")
            raise ApiError(
                f"{url} redirects to {where}: run `pam login` with the server's own address",
                response.status_code,
            )
        if response.status_code >= 400:
            raise ApiError(error_message(response), response.status_code)
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                f"{url} did not answer JSON (HTTP {response.status_code}): is {self.base} "
                "the PAM server's URL?",
                response.status_code,
            ) from None

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self.request("POST", path, body=body or {})

    def pages(
        self, path: str, params: Mapping[str, Any] | None = None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every row of a list endpoint, page after page (page numbers or cursors alike).

        Only the `next` link's query is used, on our own URL: the token never goes to
        another address, whatever the answer says."""
        query = dict(params or {})
        seen = 0
        # A `next` back to a page already read would loop forever (and grow the list the
        # caller builds): a hostile server, or a proxy answering the first page again.
        read: set[frozenset] = set()
        while True:
            page = frozenset(query.items())
            if page in read or len(read) >= MAX_PAGES:
                raise CliError(
                    f"{self.url(path)}: the server's pages do not end (a next page that "
                    f"was already read, or more than {MAX_PAGES} pages)"
                )
            read.add(page)
            data = self.get(path, query)
            rows = data.get("results", []) if isinstance(data, dict) else data
            for row in rows:
                yield row
                seen += 1
                if limit is not None and seen >= limit:
                    return
            following = data.get("next") if isinstance(data, dict) else None
            if not following:
                return
            query = dict(parse_qsl(urlsplit(following).query))


def _reason(exc: Exception) -> str:
    """The innermost cause of a requests error, without its object reprs."""
    cause: BaseException = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    text = str(cause)
    if "] " in text:  # "[Errno 111] Connection refused"
        text = text.split("] ", 1)[1]
    return text.split(":")[-1].strip() or type(cause).__name__
