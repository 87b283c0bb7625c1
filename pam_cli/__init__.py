"""`pam`: the command line of AWS Console PAM (README "Command line").

It runs on a person's laptop and talks to the server's REST API with a personal API
token; it imports nothing of the server (no Django, no app package: import-linter's
"pam_cli imports no app" contract in pyproject.toml).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aws-console-pam")
except PackageNotFoundError:  # run from a checkout
    __version__ = "0.1.0"
