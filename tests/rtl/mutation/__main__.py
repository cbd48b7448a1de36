"""``python -m tests.rtl.mutation``: see ``mutate.main``."""

import sys

from .mutate import main, terminate_on_sigterm

terminate_on_sigterm()
sys.exit(main())
