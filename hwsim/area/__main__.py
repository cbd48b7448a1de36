"""``python -m hwsim.area``: check or regenerate the stored synthesis results (``hwsim/area/stored``).

``hwsim run`` prices a preset's area from ``hwsim/area/stored/NAME.json`` without running Yosys. When
``rtl/`` changes, those files describe an older RTL; ``tests/hwsim/area/test_area_stored.py`` then fails
and names this command::

    python -m hwsim.area --check                 # exit 1 and one line per stale file, 0 when all are current
    python -m hwsim.area --regenerate            # synthesise every stored preset again (needs Yosys)
    python -m hwsim.area --regenerate small      # only these presets

A regeneration of all three presets takes about 15 minutes and 2.3 GB of memory on a cold synthesis
cache (``default_28nm`` dominates; docs/area.md), seconds on a warm one.
"""

from __future__ import annotations

import argparse
import sys

from hwsim.area.model import REGENERATE_COMMAND, STORED_DIR, regenerate_stored, stored_problems
from hwsim.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hwsim.area", description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="report stored results that no longer match rtl/")
    action.add_argument("--regenerate", nargs="*", metavar="PRESET",
                        help="synthesise these stored presets again (default: all of hwsim/area/stored)")
    parser.add_argument("--no-cache", action="store_true", help="synthesise even if a cached result exists")
    args = parser.parse_args(argv)
    stored = sorted(p.stem for p in STORED_DIR.glob("*.json"))
    if args.check:
        problems = stored_problems()
        for line in problems:
            print(f"stale: {line}")
        if problems:
            print(f"regenerate with: {REGENERATE_COMMAND}")
            return 1
        print(f"stored synthesis results are current: {', '.join(stored)}")
        return 0
    unknown = sorted(set(args.regenerate) - set(stored))
    if unknown:
        print(f"python -m hwsim.area: error: {', '.join(unknown)}: not a stored preset; stored: {', '.join(stored)} "
              "(a new one: copy area.json of 'hwsim area --chip NAME' to hwsim/area/stored/NAME.json)",
              file=sys.stderr)
        return 2
    try:
        regenerate_stored(args.regenerate, use_cache=not args.no_cache)
    except ConfigError as exc:
        print(f"python -m hwsim.area: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
