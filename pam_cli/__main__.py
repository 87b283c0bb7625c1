"""`python -m pam_cli ...`: the same as the installed `pam` command."""

import sys

from .main import main

sys.exit(main())
