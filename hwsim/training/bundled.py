"""The bundled default network: a small digits SNN that fits both chip presets.

``python -m hwsim.training.bundled`` retrains it from its seed and writes
``hwsim/data/digits_default.npz``; the same NumPy/BLAS gives the same integers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hwsim.network import Network

__all__ = ["BUNDLED_RECIPE", "default_network_path", "load_default_network", "train_default_network", "main"]

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hwsim.training.bundled", description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=_PATH, help=f"where to write (default {_PATH})")
    args = parser.parse_args(argv)
    net = train_default_network(progress=True, command="python -m hwsim.training.bundled")
    net.save(args.output)
    r = net.metadata["results"]
    print(f"wrote {args.output}: {'-'.join(map(str, net.sizes))}, chip-simulated test accuracy "
          f"{r['chip_test_accuracy']:.4f} (float {r['float_test_accuracy']:.4f}), {r['train_seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
