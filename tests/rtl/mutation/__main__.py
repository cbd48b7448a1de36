"""``python -m tests.rtl.mutation``: see ``mutate.main``."""

import sys

from .mutate import main

sys.exit(main())
