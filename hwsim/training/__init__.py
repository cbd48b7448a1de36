"""Training spiking networks with binary activations (after Yin et al., BioCAS 2017).

NumPy only. :func:`train` fits a network with a straight-through estimator,
quantization-aware, and returns a :class:`hwsim.network.Network` in the
chip's integer formats (``arch="16C5-MP2-32C5-MP2-10"`` for a convolutional one, see
:mod:`hwsim.training.arch` and :mod:`hwsim.training.conv`); :func:`chip_accuracy` measures it with the chip's
exact neuron semantics. :func:`load_default_network` returns the bundled
digits network.
"""

from hwsim.training.bundled import default_network_path, load_default_network
from hwsim.training.evaluate import accuracy_vs_timesteps, chip_accuracy, chip_predictions, float_accuracy
from hwsim.training.trainer import TrainConfig, TrainResult, fit, train

__all__ = [
    "train",
    "fit",
    "TrainConfig",
    "TrainResult",
    "chip_accuracy",
    "chip_predictions",
    "float_accuracy",
    "accuracy_vs_timesteps",
    "default_network_path",
    "load_default_network",
]
