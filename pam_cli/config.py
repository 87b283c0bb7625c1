"""Where `pam login` keeps the server's URL and the person's API token.

`$XDG_CONFIG_HOME/pam/config.json` (an absolute XDG_CONFIG_HOME only, as the XDG Base
Directory spec says), else `~/.config/pam/config.json`. The token is a credential: the
folder is 0700 and the file 0600 from its first byte (written to a private temporary
file, then renamed over the old one, so a crash never leaves half a file and no other
user can ever read it). `PAM_URL` and `PAM_TOKEN` in the environment take precedence
over the file, each on its own (CI jobs, containers).
https://specifications.freedesktop.org/basedir-spec/latest/
"""

from __future__ import annotations

import ipaddress
import json
import os
import stat
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .errors import CliError, UsageError

FILE_NAME = "config.json"
TOKEN_PREFIX = "pam_"  # noqa: S105 (how the server's tokens start, not a secret)


@dataclass(frozen=True)
class Config:
    url: str
    # Never shown: not in repr(), and so not in a traceback or a debugger's summary.
    token: str = field(repr=False)


def config_dir(env: Mapping[str, str] = os.environ) -> Path:
    base = env.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "pam"


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    return config_dir(env) / FILE_NAME


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """The server's base URL, without a trailing slash; or a UsageError naming the rule.

    https only, but for loopback (a local demo): over plain http the token would cross
    the network readable by anyone on the path."""
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError as exc:  # "https://[::1": Invalid IPv6 URL
        raise UsageError(f"URL {text!r}: {exc}") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UsageError(f"URL {text!r}: give the server's address, like https://pam.example.com")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(
            f"URL {text!r}: use https (over http the API token would cross the network "
            "in the clear); plain http is only accepted for localhost"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise UsageError(f"URL {text!r}: no query, fragment or user name, only the address")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def check_token(token: str, name: str = "token") -> str:
    """The token, or a UsageError naming `name` (where it came from) and never quoting
    it: a token with a line break or a space inside would otherwise reach the request's
    header, and requests' refusal quotes the header's whole value."""
    text = (token or "").strip()
    if (
        not text.startswith(TOKEN_PREFIX)
        or len(text) < 16
        or not text.isascii()
        or not text.isprintable()
        or " " in text
    ):
        raise UsageError(
            f"{name}: an API token starts with pam_, on one line, without spaces (create "
            "one while signed in to the web page: POST /api/v1/tokens/ "
            '{"name": "laptop", "scope": "access"})'
        )
    return text


def _stored(path: Path) -> dict[str, str]:
    try:
        with path.open(encoding="utf-8") as stream:
            # The file read, not the path again: it cannot be swapped in between.
            info = os.fstat(stream.fileno())
            text = stream.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    mode = stat.S_IMODE(info.st_mode)
    # Whoever can write the file chooses the server the token goes to (and the keys
    # the AWS CLI then uses): refused, as ssh refuses such a config. POSIX only.
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        raise CliError(
            f"{path} is owned by someone else (uid {info.st_uid}), who could point pam at "
            "their server: not used; remove it and run `pam login`"
        )
    if hasattr(os, "geteuid") and mode & 0o022:
        raise CliError(
            f"{path} can be written by others (mode {mode:04o}), who could point pam at "
            "their server: not used; chmod 600 it (and check its url)"
        )
    if mode & 0o077:
        print(
            f"pam: warning: {path} is readable by others (mode {mode:04o}): chmod 600 it",
            file=sys.stderr,
        )
    try:
        data = json.loads(text)
    except ValueError:
        raise CliError(f"{path} is not valid JSON: run `pam login` again") from None
    if not isinstance(data, dict):
        raise CliError(f"{path} is not a pam configuration: run `pam login` again")
    return {k: v for k, v in data.items() if isinstance(v, str)}


def load(env: Mapping[str, str] = os.environ) -> Config:
    """The URL and token to use: the environment's, else the file's."""
    # Both in the environment: the file is not read (nor its owner and mode held
    # against a run that does not use it).
    both = env.get("PAM_URL") and env.get("PAM_TOKEN")
    stored = {} if both else _stored(config_path(env))
    url = env.get("PAM_URL") or stored.get("url", "")
    token = env.get("PAM_TOKEN") or stored.get("token", "")
    if not url or not token:
        raise CliError("not logged in: run `pam login` (or set PAM_URL and PAM_TOKEN)")
    where = "PAM_TOKEN" if env.get("PAM_TOKEN") else f"the token in {config_path(env)}"
    return Config(url=check_url(url), token=check_token(token, where))


def save(config: Config, env: Mapping[str, str] = os.environ) -> Path:
    """Write the file atomically: 0600 from creation (mkstemp), then renamed into place."""
    directory = config_dir(env)
    path = directory / FILE_NAME
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # An existing folder keeps whatever mode it had: tighten it (it holds only this).
        os.chmod(directory, 0o700)
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".config.", suffix=".tmp")
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump({"url": config.url, "token": config.token}, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
