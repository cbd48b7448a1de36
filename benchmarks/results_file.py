"""The benchmarks' shared results file: spreads of repeated timings, and merging keys into a JSON file.

Several scripts of ``make bench`` write into ``benchmarks/results/latest.json``, each its own keys, so every
write is a locked read-modify-write that keeps the keys it does not know. No side effects on import (unlike
``bench_engine.py``, which re-executes itself without some BLAS variables and picks a fresh Numba cache).
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import numpy as np

from hwsim.writers import atomic_write_bytes

__all__ = ["spread", "merge_results"]


def spread(values) -> dict:
    """Median, min, max and count of repeated measurements."""
    v = np.asarray(values, float)
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()), "n": int(v.size)}


def merge_results(path: Path, keys: dict, drop: tuple[str, ...] = ()) -> None:
    """Update ``keys`` in the JSON file ``path`` (removing ``drop``), keeping every other key; the write is atomic
    and the read-modify-write holds a lock on the folder (against another benchmark merging at the same time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        try:
            report = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            report = {}
        for key in drop:
            report.pop(key, None)
        report.update(keys)
        atomic_write_bytes(path, (json.dumps(report, indent=2) + "\n").encode())
    finally:
        os.close(folder)  # releases the lock
