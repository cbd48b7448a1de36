"""Code shared by the subcommands: argument checks, network loading, mapping with warnings as messages.

Every check here runs before any dataset is loaded or anything is simulated, and raises
:class:`hwsim.errors.InputError` with one line naming the option, the value and what is allowed (the CLI
turns it into exit status 2). Imports of heavy modules stay inside the functions, so ``hwsim --help`` stays
fast.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from hwsim.errors import InputError
from hwsim.limits import MAX_SEED, MAX_TIMESTEPS

__all__ = [
    "check_int",
    "check_seed",
    "check_positive_float",
    "check_input_file",
    "check_data_dir",
    "check_name_or_file",
    "input_paths",
    "load_network",
    "map_with_messages",
    "network_timesteps",
    "check_outputs_match_classes",
    "add_exit_arguments",
    "check_exit_arguments",
    "exit_options",
]


def check_int(option: str, value: int | None, lo: int, hi: int) -> None:
    """``value`` (None = not given) must be an integer in ``lo..hi``."""
    if value is not None and not lo <= value <= hi:
        raise InputError(f"{option} {value}: expected an integer in {lo}..{hi}")


def check_seed(option: str, value: int | None) -> None:
    check_int(option, value, 0, MAX_SEED)


def check_positive_float(option: str, value: float | None, what: str = "expected a finite number > 0") -> None:
    """``value`` (None = not given) must be a finite number > 0 (refuses inf and nan)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise InputError(f"{option} {value}: {what}")


def check_data_dir(value: str | None) -> None:
    """``--data-dir``, if given, must be an existing folder."""
    if value is not None and not value.strip():
        raise InputError(f"--data-dir {value!r}: expected a folder name, got an empty string")
    if value is not None and not Path(value).is_dir():
        raise InputError(f"--data-dir {value!r}: folder does not exist" if not Path(value).exists()
                         else f"--data-dir {value!r} is a file; expected the folder of the IDX files")


def check_input_file(option: str, value: str | None) -> None:
    """An input file named on the command line must be a non-empty name of an existing file."""
    if value is None:
        return
    if not value.strip():
        raise InputError(f"{option} {value!r}: expected a file name, got an empty string")
    if "\0" in value:
        raise InputError(f"{option} {value!r}: a file name cannot hold a NUL character")
    path = Path(value)
    if not path.exists():
        raise InputError(f"{option} {value!r}: file does not exist")
    if path.is_dir():
        raise InputError(f"{option} {value!r} is a folder; expected a file")


def _is_file_argument(value: str | None) -> bool:
    """A ``NAME|FILE`` option (``--chip``, ``--table``) names a file if it ends in .toml or has a folder part."""
    return bool(value) and (value.endswith(".toml") or os.sep in value)


def check_name_or_file(option: str, value: str | None) -> None:
    """A preset-or-file option: a file name (``.toml`` or with a folder part) must exist; a name is checked
    by its loader."""
    if value is not None and not value.strip():
        raise InputError(f"{option} {value!r}: expected a preset name or a .toml file, got an empty string")
    if _is_file_argument(value):
        check_input_file(option, value)


def input_paths(args, options: dict[str, str]) -> dict[str, str | None]:
    """The input files and folders of a command, by option name (for the "input inside the output" check).

    Args:
        args: Parsed arguments.
        options: Option name as the user sees it -> attribute of ``args`` (e.g. ``{"--net": "net"}``).
            Preset names (``--chip rram``) are skipped: only values that exist on disk are inputs.
    """
    found = {}
    for option, attr in options.items():
        value = getattr(args, attr, None)
        if value and os.path.lexists(value):
            found[option] = value
    return found


def load_network(net: str | None, chip, say: Callable[[str], None]):
    """The network of ``--net`` (``.npz`` or ``.nir``, quantized for ``chip``), or the bundled digits network.

    Returns:
        ``(network, name)``; the name is the file as given, or ``bundled:<file>``.
    """
    if net is not None:
        from mapping import load_network as load

        say(f"loading network {net}")
        return load(net, chip), str(net)
    from hwsim.training import default_network_path, load_default_network

    say("loading the bundled default network")
    return load_default_network(), f"bundled:{default_network_path().name}"


def map_with_messages(command: str, network, chip, **options):
    """:func:`mapping.map_network`, with the mapper's soft design-rule warnings printed as one-line messages
    (``hwsim COMMAND: warning: ...``) rather than Python warnings with a source line."""
    from mapping import map_network

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        program = map_network(network, chip, **options)
    for w in caught:
        print(f"hwsim {command}: warning: {w.message}", file=sys.stderr)
    return program


def network_timesteps(metadata: dict, given: int | None, default: int = 8) -> int:
    """Timesteps: ``given`` (the option), else the network's metadata, else ``default``.

    Raises:
        InputError: outside ``1..MAX_TIMESTEPS``, or metadata that is not a whole number (``2.5``, ``"8"``).
    """
    if given is not None:
        check_int("--timesteps", given, 1, MAX_TIMESTEPS)
        return given
    value = metadata.get("timesteps") if isinstance(metadata, dict) else None
    if value is None:
        return default
    if getattr(value, "ndim", None) == 0:  # a NumPy scalar array, as NIR metadata may hold
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= MAX_TIMESTEPS:
        raise InputError(f"network metadata timesteps = {value!r}: expected a whole number in 1..{MAX_TIMESTEPS} "
                         "(or pass --timesteps)")
    return int(value)


def check_outputs_match_classes(n_outputs: int, dataset, what: str = "the network") -> None:
    """One output neuron per class: a network with another output width can only score by chance."""
    if n_outputs != dataset.n_classes:
        raise InputError(
            f"{what} has {n_outputs} outputs but dataset {dataset.name} has {dataset.n_classes} classes; "
            "pass a network trained on this dataset (one output per class)"
        )


EXIT_HELP = (
    "early exit per image (chip-spec §1.4): none (default), margin:M (top-1 minus top-2 of the summed outputs "
    ">= M, a whole number), confidence:ALPHA (SEENN-I: largest softmax of the mean logits > ALPHA, 0 < ALPHA "
    "<= 1, e.g. 0.9), entropy:H (DT-SNN: normalised entropy < H, 0 <= H <= 1). The network runs once at the "
    "full T; the report adds avg_timesteps, max_timesteps, exit_histogram, the fixed-T accuracy and energy "
    "of the same run, energy_saving, and exit_frontier.png"
)


def add_exit_arguments(parser) -> None:
    """``--exit``, ``--exit-sweep`` and ``--exit-scale`` (docs/energy.md §7, chip-spec §1.4)."""
    parser.add_argument("--exit", default="none", metavar="RULE", help=EXIT_HELP)
    parser.add_argument("--exit-sweep", metavar="RULE:V1,V2,...",
                        help="exit thresholds for the frontier figure exit_frontier.png (accuracy and nJ/image "
                        "against average timesteps, with the fixed-T curve T = 1..T), all from the same run, "
                        "e.g. confidence:0.5,0.7,0.9,0.99; several rules separated by ';' (quote it), e.g. "
                        "'margin:20,40;confidence:0.9,0.99'")
    parser.add_argument("--exit-scale", type=float, metavar="S",
                        help="logit units per integer step of the output layer, for confidence and entropy "
                        "(default: the output layer's scale in the network file, scales[-1]; a spike-count "
                        "readout or a network without scales needs it)")


def check_exit_arguments(args) -> None:
    """The form and ranges of the exit options, before anything is loaded (K and the scale are checked later)."""
    from hwsim.report.early_exit import check_exit_texts

    check_positive_float("--exit-scale", args.exit_scale)
    check_exit_texts(args.exit, args.exit_sweep)


def exit_options(args, n_outputs: int, readout: str, metadata: dict | None) -> dict:
    """The :func:`hwsim.report.evaluate` arguments of the exit options, checked against the network (its
    ``n_outputs``, ``readout`` and ``metadata``, which may record the output layer's scale) before the dataset
    is loaded; none at all under ``--exit none`` without a sweep, so such a run is the run it was before early
    exit existed."""
    from hwsim.report.early_exit import resolve_exit_rules

    if str(args.exit).strip().lower() == "none" and args.exit_sweep is None:
        return {}
    resolve_exit_rules(n_outputs, readout, args.exit, args.exit_sweep, args.exit_scale, metadata)
    return {"exit_rule": args.exit, "exit_sweep": args.exit_sweep, "exit_scale": args.exit_scale,
            "network_metadata": metadata}
