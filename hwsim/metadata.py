"""The metadata keys hwsim reads back from network and program files, and their checks.

Network and program files carry free JSON metadata (provenance, scales, placement). A few keys are
read by the commands to run a network as it was trained: the timesteps, the input coding, the dataset
and its class names. Those are checked where a file is loaded, so ``timesteps: 2.5`` is refused with
the key, the value and what is allowed, instead of silently running 2 timesteps. Other keys are
kept as they are.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from hwsim.encoding import ENCODINGS
from hwsim.errors import HwsimError
from hwsim.limits import MAX_IMAGE_SIDE, MAX_SEED, MAX_TIMESTEPS
from hwsim.readers import shorten

__all__ = ["check_metadata", "RUN_KEYS"]

#: Keys whose values the commands use, with what each must be.
RUN_KEYS = {
    "timesteps": f"a whole number in 1..{MAX_TIMESTEPS}",
    "encoding": f"one of {', '.join(ENCODINGS)}",
    "encoding_seed": f"a whole number in 0..{MAX_SEED}",
    "w_bits": "a whole number in 2..16 (chip-spec §4)",
    "v_bits": "a whole number in 4..32 (chip-spec §4)",
    "dataset": "a dataset name (a string)",
    "name": "a string",
    "classes": "a list of class names (strings), one per output",
    "image_shape": f"a list of image sides in 1..{MAX_IMAGE_SIDE} whose product is the number of inputs",
}


def _whole(value: Any, lo: int, hi: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and lo <= value <= hi


def check_metadata(
    metadata: Any, error: type[HwsimError], *, n_inputs: int | None = None, n_outputs: int | None = None,
    what: str = "network metadata",
) -> dict:
    """Check the keys of :data:`RUN_KEYS` that ``metadata`` holds (``None`` stands for an absent key).

    Args:
        metadata: The metadata, which must be a dict (a JSON object).
        error: The exception type to raise.
        n_inputs, n_outputs: The network's widths, to check ``image_shape`` and ``classes`` against.
        what: Starts the message, e.g. ``"network metadata"``.

    Returns:
        ``metadata``, unchanged.
    """
    if not isinstance(metadata, dict):
        raise error(f"{what} is a {type(metadata).__name__} ({shorten(metadata)}); expected a JSON object")
    for key, allowed in RUN_KEYS.items():
        value = metadata.get(key)
        if value is None:
            continue
        if key == "timesteps":
            ok = _whole(value, 1, MAX_TIMESTEPS)
        elif key == "encoding":
            ok = isinstance(value, str) and value in ENCODINGS
        elif key == "encoding_seed":
            ok = _whole(value, 0, MAX_SEED)
        elif key == "w_bits":
            ok = _whole(value, 2, 16)
        elif key == "v_bits":
            ok = _whole(value, 4, 32)
        elif key in ("dataset", "name"):
            ok = isinstance(value, str)
        elif key == "classes":
            ok = isinstance(value, list) and all(isinstance(c, str) for c in value)
            if ok and n_outputs is not None and len(value) != n_outputs:
                raise error(
                    f"{what} classes has {len(value)} names but the network has {n_outputs} outputs; "
                    "expected one output per class"
                )
        else:  # image_shape
            ok = isinstance(value, list) and bool(value) and all(_whole(s, 1, MAX_IMAGE_SIDE) for s in value)
            if ok and n_inputs is not None and math.prod(value) != n_inputs:
                raise error(
                    f"{what} image_shape = {shorten(value)} has {math.prod(value)} pixels but the network has "
                    f"{n_inputs} inputs; expected one input per pixel"
                )
        if not ok:
            raise error(f"{what} {key} = {shorten(value)}: expected {allowed}")
    return metadata
