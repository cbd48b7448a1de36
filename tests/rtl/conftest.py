"""RTL tests import their harness (the ``harness`` package) and each other's testbenches from this folder.

Also inside the simulator: the cocotb runner hands ``sys.path`` to it as ``PYTHONPATH``.
"""

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
