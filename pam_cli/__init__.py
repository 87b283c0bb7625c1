"""`pam`: the command line of AWS Console PAM (README "Command line").

It runs on a person's laptop and talks to the server's REST API with a personal API
token; it imports nothing of the server (no Django, no app package: import-linter's
"pam_cli imports no app" contract in pyproject.toml).
"""

# The package's version (pyproject.toml; tests/test_packaging.py holds the two equal), written
# out: importlib.metadata's lookup cost 30 ms of every run, and the AWS CLI runs
# `pam credentials` before each of its commands (bench/cli.py).
__version__ = "0.1.0"
