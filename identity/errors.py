"""How an SSO sign-in fails: the step, and what the person (or the admin) can check."""

from __future__ import annotations


class SsoFailed(Exception):
    """A sign-in refused at one step, with what the person (or the admin) can check."""

    def __init__(self, step: str, message: str, *, status: int = 400) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message
        self.status = status
