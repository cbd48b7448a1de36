"""Training spiking networks with binary activations (after Yin et al., BioCAS 2017).

NumPy only. :func:`train` fits a network with a straight-through estimator,
quantization-aware, and returns a :class:`hwsim.network.Network` in the
chip's integer formats (``arch="16C5-MP2-32C5-MP2-10"`` for a convolutional one, see
:mod:`hwsim.training.arch` and :mod:`hwsim.training.conv`); :func:`chip_accuracy` measures it with the chip's
exact neuron semantics. :func:`load_default_network` returns the bundled
digits network.
"""

from hwsim.lazy_imports import lazy_exports

# Loaded on first use: `hwsim run` loads the bundled network without importing the trainer (hwsim.lazy_imports).
_EXPORTS = {
    "hwsim.training.trainer": ("train", "fit", "TrainConfig", "TrainResult"),
    "hwsim.training.evaluate": ("chip_accuracy", "chip_predictions", "float_accuracy", "accuracy_vs_timesteps"),
    "hwsim.training.bundled": ("default_network_path", "load_default_network"),
}

__all__ = [name for names in _EXPORTS.values() for name in names]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
