"""Train a small conv SNN in snnTorch, export it with snnTorch's own NIR exporter, and store it for hwsim's tests.

NOT collected by pytest and NOT run by `make test`: it needs PyTorch and snnTorch, which hwsim does not depend on.
Run it by hand, from the repository root, in a separate framework venv:

    python3 -m venv /work/coord/fwvenv
    /work/coord/fwvenv/bin/pip install "torch==2.13.0+cpu" "nir==1.0.8" "nirtorch==2.6"
    /work/coord/fwvenv/bin/pip install --no-deps "snntorch==1.0.0"      # declares no dependencies of its own
    OMP_NUM_THREADS=2 nice -n 10 /work/coord/fwvenv/bin/python tests/data/nir/make_framework_conv.py

The stored files came from that command with its defaults (24,000 training images, 2 epochs: 20 min of training
on 2 cores shared with other jobs, load average about 10; the framework scored 77.19 % on the 10,000 test images).
PyTorch on CPU is deterministic only up to thread scheduling of reductions, so a rerun may differ slightly; the
hwsim tests only read the stored files.

It reads Fashion-MNIST offline (/usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist) with
hwsim.datasets and encodes every image with hwsim.encoding, so the framework sees exactly the spike rasters that
hwsim's chip sees (rate coding, T = 8; image i of the test set uses seed 0 and first_index = i, as
`hwsim.Chip.run(images, T, encoding="rate", seed=0)` does).

Why snnTorch and not Norse (tried first, Norse 1.1.0 with nirtorch 2.6): `norse.torch.to_nir` has no case for
torch.nn.AvgPool2d, MaxPool2d or Flatten; nirtorch then stores None for those nodes and `nir.write` fails
(`'NoneType' object has no attribute 'to_dict'`). Even Conv2d -> LIFBoxCell alone cannot be written: Norse leaves
Conv2d.input_shape = None and never infers types, so `nir.write` fails (h5py: "One of data, shape or dtype must
be specified") and leaves a truncated file; a Conv2d without bias fails in the exporter itself
(`module.bias.detach()` on None). Norse also writes LIF tau = dt / tau_mem_inv (1e-5 s for its default 10 ms).

Network (snnTorch 1.0.0 modules, exported node types in brackets):
    Conv2d(1, 8, 5) [Conv2d, with bias] -> Leaky [LIF] -> AvgPool2d(2) [AvgPool2d]
    -> Conv2d(8, 16, 5) [Conv2d] -> Leaky [LIF] -> AvgPool2d(2) [AvgPool2d] -> Flatten [Flatten]
    -> Linear(256, 10) [Affine]                        (readout: argmax over classes of the sum over T)
Neuron parameters the chip represents exactly: beta = 0.875 = 1 - 2^-3 (the chip's leak v - (v >> 3)), one
threshold 1.0 per layer, reset to zero ("zero": NIR writes v_reset = 0 whatever the reset mechanism, and hwsim
reads v_reset = 0 as reset to zero; snnTorch's default "subtract" would be exported the same way and would
silently differ). snnTorch's delayed zero reset, mem[t+1] = beta (1 - s[t]) mem[t] + I[t+1], is the chip's
reset to zero at the spike followed by the next step's integrate-then-leak.

Writes into this folder:
    snntorch_conv_fmnist.nir    the graph as snnTorch's export_to_nir returns it, written with nir.write
    snntorch_conv_fmnist.json   provenance: versions, T, encoding, seeds, test accuracy, and the framework's
                                per-image predictions on the first SUBSET test images
    fmnist_test_subset.npz      those SUBSET test images (uint8 levels, as in the IDX file) and their labels,
                                so that the hwsim test needs neither the dataset nor the framework
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))  # hwsim.datasets / hwsim.encoding only need NumPy

import nir  # noqa: E402
import nirtorch  # noqa: E402
import snntorch  # noqa: E402
import torch  # noqa: E402
from snntorch import utils as snn_utils  # noqa: E402
from snntorch.export_nir import export_to_nir  # noqa: E402

from hwsim.datasets import load_dataset  # noqa: E402
from hwsim.encoding import encode  # noqa: E402

NAME = "snntorch_conv_fmnist"
TIMESTEPS = 8
ENCODING = "rate"
TEST_SEED = 0  # rate-coding seed of the test rasters (hwsim's default seed)
TRAIN_SEED_BASE = 1000  # epoch e draws training rasters with seed TRAIN_SEED_BASE + e
TORCH_SEED = 0
BETA = 0.875  # 1 - 2^-3: the chip's leak_shift 3, exact
THRESHOLD = 1.0
SUBSET = 500  # first test images stored with the framework's predictions for the hwsim test


def build_network() -> torch.nn.Sequential:
    """The exported network; Leaky layers keep their state inside (init_hidden) so Sequential steps through time.

    beta and threshold are given as full tensors of the layer's shape (the same value everywhere): with scalars,
    snnTorch exports 0-d tau/r/v_threshold, nir's LIF then has input type [] and export_to_nir's own
    ``infer_types()`` stops with "type mismatch: 0.output: [[ 8 24 24]] -> 1.input: []".
    """

    def leaky(shape: tuple[int, int, int]) -> snntorch.Leaky:
        return snntorch.Leaky(
            beta=torch.full(shape, BETA), threshold=torch.full(shape, THRESHOLD), reset_mechanism="zero",
            init_hidden=True,
        )

    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 5),
        leaky((8, 24, 24)),
        torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(8, 16, 5),
        leaky((16, 8, 8)),
        torch.nn.AvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 4 * 4, 10),
    )


def forward_batched(net: torch.nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Sum over time of the readout for rasters ``x`` of shape (T, B, 1, 28, 28), for training.

    The same modules as the step-by-step Sequential, with the stateless ones (conv, pool, linear) run on all
    timesteps at once: the result is the same (up to float summation order), the training several times faster.
    """
    T, B = x.shape[:2]
    snn_utils.reset(net)
    h = x.flatten(0, 1)
    for module in net:
        if isinstance(module, snntorch.Leaky):
            h = h.view(T, B, *h.shape[1:])
            h = torch.stack([module(h[t]) for t in range(T)]).flatten(0, 1)
        else:
            h = module(h)
    return h.view(T, B, -1).sum(0)


@torch.no_grad()
def predict_stepwise(net: torch.nn.Sequential, rasters: np.ndarray, batch: int = 500) -> np.ndarray:
    """The framework's own inference: one Sequential call per timestep, argmax of the summed readout.

    Returns:
        (n,) predicted classes; ties (exact float ties) go to the lowest index, as torch.argmax does.
    """
    preds = []
    for b0 in range(0, len(rasters), batch):
        x = torch.from_numpy(rasters[b0 : b0 + batch].astype(np.float32))  # (B, T, 784)
        snn_utils.reset(net)
        score = 0
        for t in range(x.shape[1]):
            score = score + net(x[:, t].reshape(-1, 1, 28, 28))
        preds.append(torch.argmax(score, dim=1).numpy())
    return np.concatenate(preds)


def raster_digest(rasters: np.ndarray) -> str:
    """sha256 of the (n, T, 784) uint8 rasters, so the hwsim test can check it encodes the same spikes."""
    return hashlib.sha256(np.ascontiguousarray(rasters, dtype=np.uint8).tobytes()).hexdigest()


def write_json(path: Path, data: dict) -> None:
    """Indented JSON with the per-image predictions on one line, written atomically."""
    # lists of whole numbers on one line each
    text = re.sub(r"\[\s*(-?\d+(?:,\s*-?\d+)*)\s*\]", lambda m: "[" + re.sub(r",\s*", ", ", m.group(1)) + "]",
                  json.dumps(data, indent=1))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--limit", type=int, default=24000, help="first N training images (0: all 60,000)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(TORCH_SEED)
    rng = np.random.default_rng(TORCH_SEED)

    ds = load_dataset("fashion-mnist")
    limit = args.limit or None
    x_train, y_train = ds.x_train[:limit], ds.y_train[:limit]
    test_rasters = encode(ds.x_test, TIMESTEPS, ENCODING, TEST_SEED, first_index=0)  # (10000, T, 784)

    net = build_network()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    loss_fn = torch.nn.CrossEntropyLoss()
    t0 = time.time()
    for epoch in range(args.epochs):
        rasters = encode(x_train, TIMESTEPS, ENCODING, TRAIN_SEED_BASE + epoch, first_index=0)
        order = rng.permutation(len(y_train))
        net.train()
        total, correct, loss_sum = 0, 0, 0.0
        for b0 in range(0, len(order), args.batch):
            idx = order[b0 : b0 + args.batch]
            x = torch.from_numpy(rasters[idx].astype(np.float32)).transpose(0, 1).reshape(TIMESTEPS, -1, 1, 28, 28)
            y = torch.from_numpy(y_train[idx])
            score = forward_batched(net, x)
            loss = loss_fn(score / TIMESTEPS, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += len(idx)
            correct += int((score.argmax(1) == y).sum())
            loss_sum += float(loss.detach()) * len(idx)
            if (b0 // args.batch) % 100 == 99:
                print(f"  {total} images: loss {loss_sum / total:.4f}, train acc {correct / total:.4f}", flush=True)
        sched.step()
        net.eval()
        test_acc = float(np.mean(predict_stepwise(net, test_rasters[:2000]) == ds.y_test[:2000]))
        print(
            f"epoch {epoch + 1}/{args.epochs}: loss {loss_sum / total:.4f}, train acc {correct / total:.4f}, "
            f"test acc (first 2000) {test_acc:.4f}, {time.time() - t0:.0f} s",
            flush=True,
        )
    train_seconds = time.time() - t0

    net.eval()
    preds = predict_stepwise(net, test_rasters)
    accuracy = float(np.mean(preds == ds.y_test))
    subset_preds = preds[:SUBSET]
    subset_acc = float(np.mean(subset_preds == ds.y_test[:SUBSET]))
    print(f"framework test accuracy {accuracy:.4f} on {len(preds)} images; first {SUBSET}: {subset_acc:.4f}")

    # export with snnTorch's own exporter; the graph is stored exactly as it comes out (only nir.write).
    # ignore_dims=[0] drops the batch dimension from the types: without it, nir 1.0.8's infer_types() (called by
    # export_to_nir) reads the Conv2d input_shape as (1, 28, 28) and fails with "tuple index out of range".
    snn_utils.reset(net)
    graph = export_to_nir(net, torch.zeros(1, 1, 28, 28), ignore_dims=[0])
    args.out.mkdir(parents=True, exist_ok=True)
    nir_path = args.out / f"{NAME}.nir"
    nir.write(nir_path, graph)
    nir.read(nir_path)  # the nir package reads its own file back

    levels = np.rint(ds.x_test[:SUBSET] * 255.0).astype(np.uint8)
    np.savez_compressed(args.out / "fmnist_test_subset.npz", images=levels, labels=ds.y_test[:SUBSET])
    provenance = {
        "framework": "snntorch",
        "framework_version": snntorch.__version__,
        "exporter": "snntorch.export_nir.export_to_nir",
        "torch_version": torch.__version__,
        "nir_version": nir.__version__ if hasattr(nir, "__version__") else "unknown",
        "nirtorch_version": getattr(nirtorch, "__version__", "2.6"),
        "generator": "tests/data/nir/make_framework_conv.py",
        "dataset": "fashion-mnist",
        "architecture": "Conv2d(1,8,5)-Leaky-AvgPool2d(2)-Conv2d(8,16,5)-Leaky-AvgPool2d(2)-Flatten-Linear(256,10)",
        "neuron": {"model": "snntorch.Leaky", "beta": BETA, "threshold": THRESHOLD, "reset_mechanism": "zero"},
        "readout": "argmax over classes of the readout summed over timesteps (hwsim: membrane readout)",
        "timesteps": TIMESTEPS,
        "encoding": ENCODING,
        "encoding_seed": TEST_SEED,
        "train_encoding_seeds": f"{TRAIN_SEED_BASE} + epoch",
        "torch_seed": TORCH_SEED,
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "train_images": int(len(y_train)),
        "train_seconds": round(train_seconds, 1),
        "test_accuracy": accuracy,
        "test_images": int(len(preds)),
        "subset": {
            "images": "first test images, in fmnist_test_subset.npz",
            "n": SUBSET,
            "accuracy": subset_acc,
            "predictions": [int(p) for p in subset_preds],
            "raster_sha256": raster_digest(test_rasters[:SUBSET]),
        },
    }
    write_json(args.out / f"{NAME}.json", provenance)
    print(f"wrote {nir_path} ({nir_path.stat().st_size} bytes) and {NAME}.json")


if __name__ == "__main__":
    main()
