"""What the command says when it cannot do what was asked: one line, and an exit code."""

from __future__ import annotations

# 1: the server (or the network) refused or failed; 2: the command line was wrong (as
# argparse's own usage errors), including an account name that matches none or several.
EXIT_FAILED = 1
EXIT_USAGE = 2


class CliError(Exception):
    """Shown as `pam: <message>` on stderr, never as a traceback."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(CliError):
    exit_code = EXIT_USAGE
