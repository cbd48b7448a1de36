"""The bundled default network: a small digits SNN that fits both chip presets.

``python -m hwsim.training.bundled [-o FILE]`` retrains it from its seed, writes it to
``FILE`` (default ``hwsim-bundled/digits_default.npz`` in the current folder, never the
source tree unless asked) and prints how it compares with the bundled
``hwsim/data/digits_default.npz``: the same NumPy/BLAS gives the same integers. To
replace the bundled file, pass its path with ``-o``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hwsim.network import Network

__all__ = ["BUNDLED_RECIPE", "DEFAULT_OUTPUT", "default_network_path", "load_default_network", "train_default_network",
           "compare_networks", "main"]

#: How the bundled network is trained. ``small``-preset bit widths (6-bit weights,
#: 12-bit membranes) and 64-64-10 so it maps on ``small`` (64 axons x 32 neurons x 4
#: cores: 2 + 1 cores) as well as on ``default_28nm``.
BUNDLED_RECIPE = {
    "dataset": "digits",
    "hidden": (64,),
    "timesteps": 8,
    "mode": "discontinuous",
    "epochs": 200,
    "seed": 1,
    "w_bits": 6,
    "v_bits": 12,
    "chip": "small",
    "batch_size": 64,
    "lr": 5e-3,
    "lr_final": 1e-4,
    "train_timesteps": 2,
    "loss": "cross_entropy",
    "readout": "membrane",
    "encoding": "rate",
}

_PATH = Path(__file__).resolve().parent.parent / "data" / "digits_default.npz"
# Where a retrained copy goes by default: an output folder of the current directory, so that
# retraining never silently rewrites the packaged file (a new date in its provenance at least).
DEFAULT_OUTPUT = Path("hwsim-bundled") / "digits_default.npz"


def default_network_path() -> Path:
    """Path of the bundled digits network (``hwsim/data/digits_default.npz``)."""
    return _PATH


def load_default_network() -> Network:
    """The bundled digits network."""
    return Network.load(_PATH)


def train_default_network(progress: bool = False, command: str | None = None) -> Network:
    """Retrain the bundled network from :data:`BUNDLED_RECIPE`."""
    from hwsim.training.trainer import train

    recipe = dict(BUNDLED_RECIPE)
    return train(recipe.pop("dataset"), progress=progress, command=command, **recipe)


def compare_networks(new: Network, bundled: Network) -> list[str]:
    """Lines saying whether ``new`` has the integers of ``bundled`` (layer by layer) and both accuracies."""
    if new.sizes != bundled.sizes:
        return [f"sizes differ: {'-'.join(map(str, new.sizes))} vs bundled {'-'.join(map(str, bundled.sizes))}"]
    lines = []
    for k, (a, b) in enumerate(zip(new.layers, bundled.layers)):
        w_diff = int((a.weights != b.weights).sum())
        b_diff = int((a.bias != b.bias).sum())
        same_registers = a.header() == b.header()
        if w_diff == b_diff == 0 and same_registers:
            lines.append(f"layer {k} ({a.name}): identical to the bundled file")
        else:
            lines.append(f"layer {k} ({a.name}): {w_diff} of {a.weights.size} weights and {b_diff} of {a.bias.size} "
                         f"biases differ; threshold {a.threshold} (bundled {b.threshold})"
                         + ("" if same_registers else "; registers differ"))
    acc_new = new.metadata.get("results", {}).get("chip_test_accuracy")
    acc_old = bundled.metadata.get("results", {}).get("chip_test_accuracy")
    if acc_new is not None and acc_old is not None:
        lines.append(f"chip-simulated test accuracy {acc_new:.4f} (bundled {acc_old:.4f})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hwsim.training.bundled", description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"where to write (default {DEFAULT_OUTPUT}; the bundled file is {_PATH})")
    args = parser.parse_args(argv)
    net = train_default_network(progress=True, command="python -m hwsim.training.bundled")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    net.save(args.output)
    r = net.metadata["results"]
    print(f"wrote {args.output}: {'-'.join(map(str, net.sizes))}, chip-simulated test accuracy "
          f"{r['chip_test_accuracy']:.4f} (float {r['float_test_accuracy']:.4f}), {r['train_seconds']:.1f} s")
    print(f"compared with the bundled {_PATH}:")
    for line in compare_networks(net, load_default_network()):
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
