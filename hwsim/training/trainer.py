"""Training loop: mini-batch Adam on binary-activation SNNs, quantization-aware, seeded.

:func:`train` returns a :class:`~hwsim.network.Network` in chip integers
whose metadata records the layer sizes, the neuron mode, thresholds, scales,
the training provenance and the measured accuracies (float model and
chip-simulated quantized network, train and test).
"""

from __future__ import annotations

import datetime
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np

from hwsim.datasets import Dataset, load_dataset
from hwsim.encoding import ENCODINGS, latency_encode, regular_from_levels, to_levels
from hwsim.errors import InputError
from hwsim.limits import MAX_TIMESTEPS
from hwsim.network import Layer, Network
from hwsim.neuron import INTEGRATION_MODES
from hwsim.training import conv
from hwsim.training.arch import arch_text, parse_arch, plan_arch
from hwsim.training.augment import augment_generator, augment_levels, parse_augment
from hwsim.training.evaluate import chip_accuracy, float_accuracy
from hwsim.training.finetune import load_init_network, params_from_network, requantization_changes
from hwsim.training.model import LOSSES, FloatParams, backward, forward, loss_and_grad
from hwsim.training.quantize import LayerQuant, dequantize, quantize_params

__all__ = ["DATASET_DEFAULTS", "CONV_DEFAULTS", "TrainConfig", "TrainResult", "train", "fit", "READOUTS", "init_params",
           "init_layer", "to_network", "evaluate_trained"]

READOUTS = ("membrane", "spike_count")

#: Recommended settings per dataset (used by ``hwsim train`` when an option is not given).
#: Digits is tiny (1438 training images, a few ms per epoch), so it gets many epochs.
DATASET_DEFAULTS = {
    "digits": {"hidden": (64,), "epochs": 200, "lr": 5e-3, "lr_final": 1e-4, "batch_size": 64, "train_timesteps": 2},
    "mnist": {"hidden": (512,), "epochs": 15, "lr": 2e-3, "lr_final": 5e-5, "batch_size": 64, "train_timesteps": 1},
    "fashion-mnist": {"hidden": (512,), "epochs": 15, "lr": 2e-3, "lr_final": 5e-5, "batch_size": 64,
                      "train_timesteps": 1},
}

#: Overrides of :data:`DATASET_DEFAULTS` for ``--arch`` networks (a convolution sees more of each image per epoch
#: than a dense layer: fewer epochs suffice, and each costs more).
CONV_DEFAULTS = {
    "digits": {"epochs": 100},
    "mnist": {"epochs": 10},
    "fashion-mnist": {"epochs": 10},
}

@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (recorded in the network's provenance).

    Attributes:
        hidden: Hidden layer sizes, e.g. ``(1024, 1024)``.
        timesteps: Timesteps T of inference (and of BPTT in continuous mode).
        mode: ``discontinuous`` (each timestep an independent pass) or ``continuous`` (BPTT).
        epochs: Passes over the training set.
        seed: Seeds initialisation, batch order, input sampling.
        w_bits: Weight width of the target chip.
        v_bits: Membrane/bias/threshold width of the target chip.
        batch_size: Images per mini-batch.
        lr: Initial Adam learning rate.
        lr_final: Learning rate of the last epoch (exponential decay in between).
        loss: ``cross_entropy`` or ``squared_hinge`` (Yin's; a little less accurate here), on the mean output
            potential; or ``per-timestep`` (TET: every timestep's output scored, averaged; for early exit).
        readout: ``membrane`` (output layer ``fire = False``) or ``spike_count`` (threshold 0).
        encoding: ``rate``, ``threshold``, ``latency`` or ``regular`` (chip-spec §3).
        train_timesteps: Timesteps per training pass; default 1 in discontinuous mode
            (each pass sees one fresh Bernoulli sample) and ``timesteps`` in continuous mode.
        theta: Hidden threshold in float units.
        half_width: Half-width of the STE box around the threshold.
        detach_reset: In BPTT, do not back-propagate through the reset by subtraction (default). False is
            Yin et al.'s choice: their code forms ``V_t`` from ``input - output`` of earlier timesteps, with
            the straight-through gradient on ``output``, so the gradient flows through the reset.
        eval_seed: Encoder seed for the accuracy measurements.
        eval_train_limit: Evaluate train accuracy on at most this many training images.
        quantization_aware: Train with fake-quantized weights (else quantize only at the end).
        augment: Augmentation of the training images, ``hwsim train --augment`` grammar
            (:mod:`hwsim.training.augment`, e.g. ``shift:2,flip``); ``""`` for none. Kept in canonical form.
    """

    hidden: tuple[int, ...] = (128,)
    timesteps: int = 8
    mode: str = "discontinuous"
    epochs: int = 20
    seed: int = 0
    w_bits: int = 8
    v_bits: int = 16
    batch_size: int = 64
    lr: float = 2e-3
    lr_final: float = 1e-4
    loss: str = "cross_entropy"
    readout: str = "membrane"
    encoding: str = "rate"
    train_timesteps: int | None = None
    theta: float = 1.0
    half_width: float = 1.0
    detach_reset: bool = True
    eval_seed: int = 0
    eval_train_limit: int = 10000
    quantization_aware: bool = True
    augment: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "augment", parse_augment(self.augment).text())
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if any(h < 1 for h in self.hidden):
            raise InputError(f"hidden = {self.hidden}: every hidden layer needs at least 1 neuron")
        if self.mode not in INTEGRATION_MODES:
            raise InputError(f"mode = {self.mode!r}: allowed {', '.join(INTEGRATION_MODES)}")
        if self.loss not in LOSSES:
            raise InputError(f"loss = {self.loss!r}: allowed {', '.join(LOSSES)}")
        if self.readout not in READOUTS:
            raise InputError(f"readout = {self.readout!r}: allowed {', '.join(READOUTS)}")
        if self.encoding not in ENCODINGS:
            raise InputError(f"encoding = {self.encoding!r}: allowed {', '.join(ENCODINGS)}")
        for name, lo, hi in (("timesteps", 1, MAX_TIMESTEPS), ("epochs", 0, 100000), ("batch_size", 1, 1 << 20),
                             ("w_bits", 2, 16), ("v_bits", 4, 32)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
                raise InputError(f"{name} = {value!r}: expected an integer in {lo}..{hi}")
        if self.v_bits <= self.w_bits:
            raise InputError(f"v_bits = {self.v_bits}: must exceed w_bits = {self.w_bits}")
        if self.train_timesteps is not None and not 1 <= self.train_timesteps <= MAX_TIMESTEPS:
            raise InputError(f"train_timesteps = {self.train_timesteps!r}: expected an integer in 1..{MAX_TIMESTEPS}")
        if not (self.lr > 0 and self.lr_final > 0):
            raise InputError(f"lr = {self.lr}, lr_final = {self.lr_final}: learning rates must be > 0")
        if not (self.theta > 0 and self.half_width > 0):
            raise InputError(f"theta = {self.theta}, half_width = {self.half_width}: must be > 0")

    @property
    def effective_train_timesteps(self) -> int:
        if self.train_timesteps is not None:
            return int(self.train_timesteps)
        return 1 if self.mode == "discontinuous" else self.timesteps


def init_params(rng: np.random.Generator, sizes: Sequence[int], input_activity: float) -> FloatParams:
    """Gaussian weights scaled so a neuron's initial input has unit variance.

    With ``n`` inputs of which a fraction ``p`` spike, ``std = 1 / sqrt(n p)``
    gives membranes of standard deviation ~1 around 0, so ~16 % of neurons
    reach the threshold 1 and about half sit inside the STE window.
    """
    weights, biases = [], []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w, b = init_layer(rng, n_in, n_out, input_activity if k == 0 else 0.25)
        weights.append(w)
        biases.append(b)
    return FloatParams(weights, biases)


def init_layer(rng: np.random.Generator, fan_in: int, n_out: int, activity: float) -> tuple[np.ndarray, np.ndarray]:
    """One layer's ``(fan_in, n_out)`` Gaussian weights of std ``1 / sqrt(fan_in * activity)`` and zero biases."""
    std = 1.0 / np.sqrt(max(fan_in * activity, 1.0))
    return (rng.standard_normal((fan_in, n_out)) * std).astype(np.float32), np.zeros(n_out, np.float32)


class _Adam:
    def __init__(self, params: FloatParams, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.m = [np.zeros_like(a) for a in params.weights + params.biases]
        self.v = [np.zeros_like(a) for a in params.weights + params.biases]
        self.beta1, self.beta2, self.eps, self.t = beta1, beta2, eps, 0

    def step(self, params: FloatParams, grads: FloatParams, lr: float) -> None:
        self.t += 1
        c1 = 1.0 - self.beta1**self.t
        c2 = 1.0 - self.beta2**self.t
        for p, g, m, v in zip(params.weights + params.biases, grads.weights + grads.biases, self.m, self.v):
            m *= self.beta1
            m += (1.0 - self.beta1) * g
            v *= self.beta2
            v += (1.0 - self.beta2) * g * g
            p -= (lr * (m / c1) / (np.sqrt(v / c2) + self.eps)).astype(p.dtype)


def _sample_inputs(rng: np.random.Generator, levels: np.ndarray, timesteps: int, encoding: str) -> np.ndarray:
    """Time-major ``(T, B, n)`` float32 spikes; rate draws come from the training generator."""
    if encoding == "rate":
        draws = rng.integers(0, 256, size=(timesteps,) + levels.shape, dtype=np.uint8)
        return (draws < levels[None]).astype(np.float32)
    if encoding == "threshold":
        return np.broadcast_to((levels >= 128).astype(np.float32), (timesteps,) + levels.shape).copy()
    if encoding == "regular":
        return np.ascontiguousarray(regular_from_levels(levels, timesteps).transpose(1, 0, 2), dtype=np.float32)
    raster = latency_encode(levels.astype(np.float32) / 255.0, timesteps)
    return np.ascontiguousarray(raster.transpose(1, 0, 2), dtype=np.float32)


def to_network(quant: list[LayerQuant], config: TrainConfig, metadata: dict) -> Network:
    """Build the chip network: hidden layers in ``config.mode``, output layer discontinuous."""
    layers = []
    n = len(quant)
    for k, q in enumerate(quant):
        last = k == n - 1
        layers.append(
            Layer(
                weights=q.weights,
                bias=q.bias,
                threshold=q.threshold,
                leak_shift=0,
                # the output layer restarts every timestep: its membrane is the per-timestep logit (§2.3)
                integration="discontinuous" if last else config.mode,
                reset="subtract",
                fire=(config.readout == "spike_count") if last else True,
                name="output" if last else f"hidden{k}",
            )
        )
    return Network(layers=layers, metadata=metadata)


def _check_fits(quant: list[LayerQuant], w_bits: int, v_bits: int) -> None:
    w_lo, w_hi = -(1 << (w_bits - 1)), (1 << (w_bits - 1)) - 1
    v_lo, v_hi = -(1 << (v_bits - 1)), (1 << (v_bits - 1)) - 1
    for k, q in enumerate(quant):
        # invariants of quantize_layer; a failure here is a bug, not bad input
        assert w_lo <= q.weights.min() and q.weights.max() <= w_hi, f"layer {k} weights exceed {w_bits} bits"
        assert v_lo <= q.bias.min() and q.bias.max() <= v_hi, f"layer {k} biases exceed {v_bits} bits"
        assert 0 <= q.threshold <= v_hi, f"layer {k} threshold exceeds {v_bits} bits"


@dataclass(frozen=True)
class TrainResult:
    """What :func:`fit` returns: the chip network, the float model behind it, and the config."""

    network: Network
    float_params: FloatParams
    config: TrainConfig


def train(dataset: Dataset | str, **kwargs) -> Network:
    """Train a binary-activation SNN and return it quantized for the chip; see :func:`fit` for the arguments."""
    return fit(dataset, **kwargs).network


def fit(
    dataset: Dataset | str,
    *,
    hidden: Sequence[int] = (128,),
    arch: str | None = None,
    timesteps: int = 8,
    mode: str = "discontinuous",
    epochs: int = 20,
    seed: int = 0,
    w_bits: int = 8,
    v_bits: int = 16,
    progress: bool = False,
    evaluate: bool = True,
    chip: str | None = None,
    command: str | None = None,
    init: Network | str | None = None,
    **options,
) -> TrainResult:
    """Train a binary-activation SNN; return it quantized for the chip, with its float model.

    Args:
        dataset: A :class:`~hwsim.datasets.Dataset` or a dataset name.
        hidden: Hidden layer sizes of a fully connected network (ignored when ``arch`` is given).
        arch: A convolutional (or any) architecture in the SNN papers' notation, e.g. ``16C5-MP2-32C5-MP2-10``
            (:mod:`hwsim.training.arch`); every item becomes one chip layer (:mod:`hwsim.training.conv`).
        timesteps: Timesteps of inference (and of BPTT in continuous mode).
        mode: ``discontinuous`` or ``continuous`` integration in the hidden layers.
        epochs: Training epochs.
        seed: Seed of everything random in training; same seed, same network.
        w_bits: Weight width of the target chip.
        v_bits: Membrane/bias/threshold width of the target chip.
        progress: Show a tqdm progress bar over epochs (on stderr).
        evaluate: Measure float and chip-simulated accuracies into ``metadata["results"]``.
        chip: Name of the chip preset the bit widths came from (recorded only).
        command: Command line to record in the provenance.
        init: Fine-tune: start from this trained network (or ``.npz`` file) of the same architecture instead of
            random weights (:func:`hwsim.training.finetune.params_from_network`); the provenance records it and
            whether re-quantizing its float parameters gives back its integers (``provenance["init"]``).
        **options: Further :class:`TrainConfig` fields (``batch_size``, ``lr``, ``loss``, ``readout``,
            ``augment``, ...).

    Returns:
        A :class:`TrainResult`: the trained network in chip integers (``.network``) and its float model.
        ``network.metadata`` holds ``sizes``,
        ``w_bits``, ``v_bits``, ``timesteps``, ``encoding``, ``dataset``,
        ``neuron``, ``thresholds``, ``scales``, ``provenance`` and ``results``.
    """
    from hwsim import __version__

    if isinstance(dataset, str):
        dataset = load_dataset(dataset)
    plan = None
    if arch is not None:
        plan = plan_arch(parse_arch(arch), dataset.image_shape, dataset.n_classes, arch)
        hidden = ()
    config = TrainConfig(hidden=tuple(hidden), timesteps=timesteps, mode=mode, epochs=epochs, seed=seed,
                         w_bits=w_bits, v_bits=v_bits, **options)
    started = time.perf_counter()
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), 0x5EED])))
    levels = to_levels(dataset.x_train)
    labels = dataset.y_train
    n_train = len(labels)
    if n_train == 0:
        raise InputError(f"dataset {dataset.name!r} has no training images")
    input_activity = float(np.mean(levels) / 255.0) + 1e-3
    augmentation = parse_augment(config.augment)
    augmentation.check_image(dataset.image_shape)
    augment_rng = augment_generator(seed)
    kw = dict(mode=config.mode, theta=config.theta, half_width=config.half_width)

    def quantize(p: FloatParams) -> list[LayerQuant]:
        return quantize_params(p, w_bits=config.w_bits, v_bits=config.v_bits, theta=config.theta)

    if plan is None:
        sizes = [dataset.n_pixels, *config.hidden, dataset.n_classes]
        model_forward, model_backward = forward, backward
    else:
        sizes = [dataset.n_pixels, *(layer.n_out for layer in plan)]
        model_forward, model_backward = partial(conv.forward, plan), partial(conv.backward, plan)
    init_record = None
    if init is not None:
        init_network = load_init_network(init) if isinstance(init, str) else init
        params, read = params_from_network(init_network, sizes, plan, theta=config.theta,
                                           w_bits=config.w_bits)
        changes = requantization_changes(read, quantize(params))
        init_record = {"name": init_network.metadata.get("name"), **({"file": init} if isinstance(init, str) else {}),
                       "exact_requantization": not changes, "requantization_changes": changes}
    elif plan is None:
        params = init_params(rng, sizes, input_activity=input_activity)
    else:
        params = conv.init_params(rng, plan, input_activity, init_layer)
    opt = _Adam(params)
    T_train = config.effective_train_timesteps

    epochs_iter = range(config.epochs)
    bar = batch_bar = None
    if progress:
        from tqdm import tqdm

        if plan is None:
            bar = tqdm(epochs_iter, desc=f"train {dataset.name}", unit="epoch", file=sys.stderr, dynamic_ncols=True,
                       mininterval=1.0)
            epochs_iter = bar
        else:  # a conv epoch takes minutes: count batches
            n_batches = -(-n_train // config.batch_size)
            bar = batch_bar = tqdm(total=config.epochs * n_batches, desc=f"train {dataset.name}", unit="batch",
                                   file=sys.stderr, dynamic_ncols=True, mininterval=1.0)
    history = []
    for epoch in epochs_iter:
        frac = epoch / max(config.epochs - 1, 1)
        lr = config.lr * (config.lr_final / config.lr) ** frac
        order = rng.permutation(n_train)
        total_loss, correct = 0.0, 0
        for lo in range(0, n_train, config.batch_size):
            idx = order[lo : lo + config.batch_size]
            # only training batches are augmented, from the augmentation's own generator (evaluation never is)
            batch = augment_levels(levels[idx], dataset.image_shape, augmentation, augment_rng)
            x = _sample_inputs(rng, batch, T_train, config.encoding)
            # The weights are float32: a learning rate near float32's range (about 3e38) overflows them or the
            # membranes they make, which is bad input, not a bug (valid runs never overflow: tests run with
            # warnings as errors). The error state only turns that overflow into an error; values are unchanged.
            with np.errstate(over="raise", invalid="raise"):
                try:
                    used = dequantize(quantize(params)) if config.quantization_aware else params
                    cache = model_forward(used, x, **kw)
                    value, d_logits = loss_and_grad(cache.logits, labels[idx], config.loss)
                    grads = model_backward(used, cache, d_logits, detach_reset=config.detach_reset, **kw)
                    # straight-through: quantized-weight gradients update the float weights
                    opt.step(params, grads, lr)
                except FloatingPointError:
                    raise InputError(f"lr = {config.lr:g}: training diverged in epoch {epoch + 1} (float32 weights "
                                     "or membranes overflowed); use a smaller learning rate") from None
            total_loss += value * len(idx)
            correct += int(np.sum(np.argmax(cache.logits.sum(axis=0), axis=1) == labels[idx]))
            if batch_bar is not None:
                batch_bar.update(1)
        history.append({"epoch": epoch + 1, "loss": total_loss / n_train, "train_acc_running": correct / n_train,
                        "lr": lr})
        if bar is not None:
            bar.set_postfix(loss=f"{total_loss / n_train:.4f}", acc=f"{correct / n_train:.3f}",
                            **({} if batch_bar is None else {"epoch": epoch + 1}))
    if batch_bar is not None:
        batch_bar.close()
    train_seconds = time.perf_counter() - started

    quant = quantize(params)
    _check_fits(quant, config.w_bits, config.v_bits)
    cfg = asdict(config)
    cfg["hidden"] = list(config.hidden)
    if not config.augment:
        del cfg["augment"]  # recorded only when used: provenance of runs without it stays as it was
    if plan is None:
        thresholds, scales = [q.threshold for q in quant], [q.scale for q in quant]
    else:
        cfg["arch"] = arch_text(tuple(layer.item for layer in plan))
        thresholds, scales = conv.chip_layer_thresholds(plan, quant)
    metadata = {
        "name": f"{dataset.name}-{'-'.join(map(str, sizes)) if plan is None else cfg['arch']}",
        "sizes": sizes,
        "dataset": dataset.name,
        "classes": list(dataset.classes),
        "image_shape": list(dataset.image_shape),
        "timesteps": config.timesteps,
        "encoding": config.encoding,
        "encoding_seed": config.eval_seed,
        "w_bits": config.w_bits,
        "v_bits": config.v_bits,
        "chip": chip,
        "readout": config.readout,
        "neuron": {
            "hidden_integration": config.mode,
            "output_integration": "discontinuous",
            "reset": "subtract",
            "leak_shift": 0,
            "output_fire": config.readout == "spike_count",
            "output_threshold": 0,
        },
        "thresholds": thresholds,
        "scales": scales,
        "scale_meaning": "float model units per integer step, per layer; float threshold = scale * threshold",
        "provenance": {
            "tool": "hwsim.training",
            "hwsim_version": __version__,
            "numpy_version": np.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": command,
            "dataset": dataset.name,
            "n_train": int(n_train),
            "n_test": int(len(dataset.y_test)),
            "seed": int(seed),
            "epochs": config.epochs,
            "timesteps": config.timesteps,
            "train_timesteps": T_train,
            "encoding": config.encoding,
            "mode": config.mode,
            "config": cfg,
            "train_seconds": round(train_seconds, 3),
            "history": history,
            **({} if init_record is None else {"init": init_record}),
        },
    }
    if plan is None:
        network = to_network(quant, config, metadata)
    else:
        metadata["arch"] = cfg["arch"]
        metadata["layer_shapes"] = [list(layer.out_shape) for layer in plan]
        network = conv.to_network(plan, quant, mode=config.mode, readout=config.readout, metadata=metadata)
    if evaluate:
        metadata["results"] = evaluate_trained(network, params, dataset, config,
                                               None if plan is None else partial(conv.forward, plan))
        metadata["results"]["train_seconds"] = round(train_seconds, 3)
        metadata["results"]["total_seconds"] = round(time.perf_counter() - started, 3)
    return TrainResult(network, params, config)


def evaluate_trained(network: Network, params: FloatParams, dataset: Dataset, config: TrainConfig,
                     model_forward=None) -> dict:
    """Float-model and chip-simulated accuracies on (part of) the train set and the test set.

    ``model_forward`` is the float model (default: the fully connected :func:`hwsim.training.model.forward`).
    """
    n_tr = min(len(dataset.y_train), config.eval_train_limit)
    common = dict(timesteps=config.timesteps, encoding=config.encoding, seed=config.eval_seed)
    fkw = dict(mode=config.mode, readout=config.readout, theta=config.theta, **common)
    if model_forward is not None:
        # a convolutional model keeps every layer's activations for all timesteps: smaller chunks bound its memory
        fkw.update(model_forward=model_forward, chunk_size=100)
    return {
        "timesteps": config.timesteps,
        "encoding": config.encoding,
        "encoding_seed": config.eval_seed,
        "n_train_evaluated": int(n_tr),
        "n_test": int(len(dataset.y_test)),
        "float_train_accuracy": float_accuracy(params, dataset.x_train[:n_tr], dataset.y_train[:n_tr], **fkw),
        "float_test_accuracy": float_accuracy(params, dataset.x_test, dataset.y_test, **fkw),
        "chip_train_accuracy": chip_accuracy(network, dataset.x_train[:n_tr], dataset.y_train[:n_tr],
                                             v_bits=config.v_bits, **common),
        "chip_test_accuracy": chip_accuracy(network, dataset.x_test, dataset.y_test, v_bits=config.v_bits,
                                            **common),
    }
