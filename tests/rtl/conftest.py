"""RTL tests import their harness (``rtl_cosim``) from this folder, also inside the simulator."""

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
