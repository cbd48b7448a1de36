"""``hwsim train``: train a binary-activation SNN, quantize it for a chip, save it, report accuracy.

Examples::

    hwsim train --dataset digits -o digits.npz
    hwsim train --dataset fashion-mnist --hidden 512 --timesteps 8 -o fmnist.npz
    hwsim train --dataset mnist --data-dir ~/data/mnist --hidden 1024,1024 -o mnist.npz
    hwsim train --dataset fashion-mnist --arch 16C5-MP2-32C5-MP2-10 -o fmnist_conv.npz
    hwsim train --load digits.npz --sweep-timesteps 1,2,4,8,16     # accuracy vs T, no training
    hwsim train --dataset fashion-mnist --init fmnist_conv.npz --augment shift:2,flip --epochs 5 --lr 5e-4 \
        -o fmnist_tuned.npz                                          # fine-tune with augmentation
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import warnings

from hwsim.commands.common import (
    check_data_dir,
    check_input_file,
    check_int,
    check_name_or_file,
    check_outputs_match_classes,
    check_positive_float,
    check_seed,
    network_timesteps,
)
from hwsim.encoding_names import ENCODINGS
from hwsim.errors import InputError
from hwsim.limits import MAX_EPOCHS, MAX_TIMESTEPS
from hwsim.training.augment import AUGMENT_HELP

__all__ = ["add_arguments", "run", "parse_int_list"]


def parse_int_list(text: str, what: str) -> tuple[int, ...]:
    """``"1024,1024"`` -> ``(1024, 1024)``; raises InputError naming ``what`` on bad text (also on an empty
    item such as ``"64,,64"``, which would otherwise silently drop a layer)."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"{what} = {text!r}: expected comma-separated integers, e.g. 1024,1024") from None
    if any(v < 1 for v in values):
        raise InputError(f"{what} = {text!r}: expected one or more positive integers")
    return values


def _check_arguments(args: argparse.Namespace) -> None:
    """Every option and output path, before anything is loaded or trained."""
    from hwsim.outdir import check_output_path

    if args.load is None and args.output is None:
        raise InputError("no output file: pass -o NET.npz (or --load NET.npz to evaluate an existing network)")
    check_input_file("--load", args.load)
    check_input_file("--init", args.init)
    if args.init is not None and args.load is not None:
        raise InputError("--init starts training from a network, --load evaluates one without training: not both")
    if args.augment is not None:
        from hwsim.training.augment import parse_augment

        parse_augment(args.augment)
    check_name_or_file("--chip", args.chip)
    check_data_dir(args.data_dir)
    check_int("--timesteps", args.timesteps, 1, MAX_TIMESTEPS)
    check_int("--train-timesteps", args.train_timesteps, 1, MAX_TIMESTEPS)
    # --epochs 0 with --init: no training step, the init network re-quantized and evaluated by the trainer
    if args.epochs == 0 and args.init is None:
        raise InputError(f"--epochs 0: expected an integer in 1..{MAX_EPOCHS} (0, no training step, only with --init)")
    check_int("--epochs", args.epochs, 0, MAX_EPOCHS)
    check_int("--batch-size", args.batch_size, 1, 1 << 20)
    check_int("--limit", args.limit, 1, 2**31 - 1)
    check_int("--eval-train-limit", args.eval_train_limit, 1, 2**31 - 1)
    check_int("--w-bits", args.w_bits, 2, 16)
    check_int("--v-bits", args.v_bits, 4, 32)
    check_seed("--seed", args.seed)
    check_positive_float("--lr", args.lr, "learning rates must be > 0 and finite")
    check_positive_float("--lr-final", args.lr_final, "learning rates must be > 0 and finite")
    if args.hidden is not None and args.arch is not None:
        raise InputError("--hidden and --arch both give the network: use --hidden SIZES for a fully connected "
                         "network or --arch ARCH (e.g. 16C5-MP2-32C5-MP2-10), not both")
    if args.hidden is not None:
        parse_int_list(args.hidden, "--hidden")
    if args.arch is not None:
        from hwsim.training.arch import parse_arch

        parse_arch(args.arch)
    if args.sweep_timesteps is not None:
        for T in parse_int_list(args.sweep_timesteps, "--sweep-timesteps"):
            check_int("--sweep-timesteps", T, 1, MAX_TIMESTEPS)
    outputs = {}
    if args.output is not None:
        outputs["-o/--output"] = check_output_path(args.output, "-o/--output", folder=False)
    if args.json is not None:
        outputs["--json"] = check_output_path(args.json, "--json", folder=False)
    if len({os.path.realpath(p) for p in outputs.values()}) < len(outputs):
        raise InputError(f"-o/--output {args.output!r} and --json {args.json!r} name the same file; "
                         "the summary would overwrite the network")
    if args.load is not None and args.output is not None:
        raise InputError("--load evaluates an existing network and writes none: drop -o/--output")


def _check_design_rules(sizes: list[int], chip) -> None:
    """The size rules of the mapper on the planned layer sizes, before minutes of training: a network that
    cannot be placed on ``chip`` is refused now (shapes only, no weights are allocated)."""
    from types import SimpleNamespace

    from mapping.drc import cores_le_chip_cores, fanin_le_axons, neurons_fit_cores
    from mapping.errors import DRCError

    layers = [SimpleNamespace(n_in=n_in, n_out=n_out, name=f"fc{k}")
              for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]))]
    planned = SimpleNamespace(layers=layers)
    try:
        for rule in (fanin_le_axons, neurons_fit_cores, cores_le_chip_cores):
            rule(planned, chip)
    except DRCError as exc:
        raise InputError(f"network {'-'.join(map(str, sizes))} does not fit chip {chip.name}: {exc} "
                         "(choose smaller --hidden layers or a larger --chip)") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "Defaults depend on the dataset (digits: 64 hidden, 200 epochs; (fashion-)mnist: 512 hidden, 15 epochs).\n"
        "\n"
        "--arch takes the notation of the SNN papers, items separated by '-', e.g. 16C5-MP2-32C5-MP2-10:\n"
        "  NCk        convolution, N channels, k x k kernel, stride 1, 'same' padding (k-1)//2\n"
        "  NCksSpP    the same with stride S and padding P (either may be left out), e.g. 16C5s2p0\n"
        "  Pk, MPk    k x k max pooling, stride k (on the chip: weights 1, threshold 1 = OR of the window)\n"
        "  APk        k x k average pooling, stride k (on the chip: weights 1, threshold ceil(k*k/2))\n"
        "  N          dense layer of N neurons; the last item is the output layer (N = number of classes)\n"
        "Every item becomes one spiking chip layer; the input is the image as one channel. Defaults with --arch:\n"
        "digits 100 epochs, (fashion-)mnist 10 epochs; --mode continuous --timesteps 8 trains best (BPTT).\n"
        "\n"
        "The accuracy reported as 'chip' is the quantized network run with the chip's exact integer neuron\n"
        "semantics (hwsim.network.simulate_network, chip-spec 2.2) on the same spike rasters the chip gets."
    )
    g = parser.add_argument_group("data")
    g.add_argument("--dataset", choices=["digits", "mnist", "fashion-mnist"], default="digits",
                   help="dataset (default: digits, bundled with scikit-learn, no download)")
    g.add_argument("--data-dir", metavar="DIR",
                   help="directory of the IDX files for mnist / fashion-mnist (fashion-mnist is found "
                        "automatically in /usr/share/datasets/fashion-mnist after 'apt-get install "
                        "dataset-fashion-mnist')")
    g.add_argument("--limit", type=int, metavar="N", help="use only the first N train and N test images")
    g = parser.add_argument_group("network and chip")
    g.add_argument("--hidden", metavar="SIZES", help="hidden layer sizes, comma-separated, e.g. 1024,1024")
    g.add_argument("--arch", metavar="ARCH",
                   help="convolutional network in SNN-paper notation instead of --hidden, e.g. 16C5-MP2-32C5-MP2-10 "
                        "(see below)")
    g.add_argument("--timesteps", "-T", type=int, metavar="T",
                   help="timesteps per image (default 8; with --load or --init, the network's own)")
    g.add_argument("--mode", choices=["discontinuous", "continuous"],
                   help="hidden-layer integration: discontinuous (membrane restarts every timestep, each "
                        "timestep trained as an independent pass) or continuous (membrane carried, BPTT); "
                        "default discontinuous (with --init, the network's own)")
    g.add_argument("--readout", choices=["membrane", "spike_count"], default="membrane",
                   help="output layer: membrane readout (fire=0, default, most accurate) or Yin's threshold-0 "
                        "spike count")
    g.add_argument("--encoding", choices=ENCODINGS, default="rate",
                   help="input encoding (chip-spec 3; default rate; regular = rate coding's mean count, evenly spaced, "
                        "without its sampling noise)")
    g.add_argument("--chip", metavar="PRESET",
                   help="chip preset or TOML file giving w_bits / v_bits and the core size (default default_28nm; "
                        "with --load, the network's own v_bits unless given)")
    g.add_argument("--w-bits", type=int, help="override the chip's weight width")
    g.add_argument("--v-bits", type=int, help="override the chip's membrane width")
    g = parser.add_argument_group("training")
    g.add_argument("--epochs", type=int, help="training epochs (default per dataset)")
    g.add_argument("--seed", type=int, default=0, help="seed of everything random in training (default 0)")
    g.add_argument("--batch-size", type=int, help="images per mini-batch (default 64)")
    g.add_argument("--lr", type=float, help="initial Adam learning rate (default per dataset)")
    g.add_argument("--lr-final", type=float, help="learning rate at the last epoch (exponential decay)")
    g.add_argument("--loss", choices=["cross_entropy", "squared_hinge", "per-timestep"], default="cross_entropy",
                   help="cross_entropy (default) or squared_hinge (Yin's) on the mean output potential over "
                        "timesteps, or per-timestep: the cross-entropy of every timestep's output averaged over "
                        "timesteps (TET, as SEENN and DT-SNN train), so early timesteps classify alone, for early "
                        "exit (hwsim run --exit; docs/early-exit.md)")
    g.add_argument("--train-timesteps", type=int, metavar="T",
                   help="timesteps per training pass (default: per dataset in discontinuous mode, T in continuous)")
    g.add_argument("--no-qat", action="store_true", help="train in float, quantize only at the end")
    g.add_argument("--detach-reset", action=argparse.BooleanOptionalAction, default=True,
                   help="continuous mode: leave the reset by subtraction out of the BPTT gradient (default); "
                        "--no-detach-reset back-propagates through it, as Yin et al.'s code does")
    g.add_argument("--augment", metavar="SPEC", help=AUGMENT_HELP)
    g.add_argument("--init", metavar="NET.npz",
                   help="fine-tune: start from this network written by hwsim train (same architecture; its --arch "
                        "or hidden sizes, --mode and -T are the defaults) instead of random weights; --epochs 0 "
                        "only re-quantizes and evaluates it")
    g.add_argument("--eval-train-limit", type=int, metavar="N",
                   help="measure train accuracy on at most N images (default 10000)")
    g = parser.add_argument_group("output")
    g.add_argument("-o", "--output", metavar="NET.npz", help="where to write the trained network")
    g.add_argument("--load", metavar="NET", help="do not train: load this network (.npz or .nir) and evaluate it")
    g.add_argument("--sweep-timesteps", metavar="LIST",
                   help="also measure chip-simulated test accuracy for these timesteps, e.g. 1,2,4,8,16")
    g.add_argument("--json", metavar="FILE", help="write the summary as JSON")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from hwsim.config import load_chip_config

    started = time.perf_counter()
    _check_arguments(args)
    chip = load_chip_config(args.chip or "default_28nm")
    w_bits = args.w_bits if args.w_bits is not None else chip.core.w_bits
    v_bits = args.v_bits if args.v_bits is not None else chip.core.v_bits
    sweep = parse_int_list(args.sweep_timesteps, "--sweep-timesteps") if args.sweep_timesteps else None
    if args.load is not None:
        network, dataset, v_bits, summary = _evaluate_loaded(args, chip, v_bits)
    else:
        network, dataset, summary = _train(args, chip, w_bits, v_bits)
    if sweep:
        summary["accuracy_vs_timesteps"] = _sweep_timesteps(network, dataset, sweep, v_bits)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    if args.json:
        from hwsim.writers import atomic_write_bytes

        atomic_write_bytes(args.json, json.dumps(summary, indent=2).encode())
    return 0


def _evaluate_loaded(args: argparse.Namespace, chip, v_bits: int):
    """``--load``: the chip-simulated test accuracy of a saved network; returns (network, dataset, v_bits, summary)."""
    from hwsim.datasets import load_dataset
    from hwsim.training.evaluate import chip_accuracy
    from mapping import load_network

    # a .npz network file or a NIR graph, quantized for the chip's widths
    network = load_network(args.load, chip)
    dataset_name = network.metadata.get("dataset", args.dataset)
    dataset = load_dataset(dataset_name, args.data_dir, limit=args.limit)
    check_outputs_match_classes(network.n_outputs, dataset)
    vb = v_bits if (args.v_bits is not None or args.chip) else int(network.metadata.get("v_bits", v_bits))
    T = network_timesteps(network.metadata, args.timesteps)
    enc = network.metadata.get("encoding", args.encoding)
    acc = chip_accuracy(network, dataset.x_test, dataset.y_test, timesteps=int(T), encoding=enc, v_bits=vb)
    summary = {"network": args.load, "dataset": dataset.name, "timesteps": int(T), "v_bits": vb,
               "chip_test_accuracy": acc}
    print(f"{args.load}: {'-'.join(map(str, network.sizes))} on {dataset.describe()}")
    print(f"chip-simulated test accuracy at T={T} ({enc} encoding, v_bits={vb}): {acc:.4f}")
    return network, dataset, vb, summary


def _train(args: argparse.Namespace, chip, w_bits: int, v_bits: int):
    """Train with :func:`hwsim.training.trainer.fit`, save the network, print its accuracies; returns
    (network, dataset, summary)."""
    from hwsim.datasets import load_dataset
    from hwsim.training.trainer import CONV_DEFAULTS, DATASET_DEFAULTS, fit

    init_network = _init_defaults(args) if args.init is not None else None
    defaults = DATASET_DEFAULTS[args.dataset]
    if args.arch is not None:
        defaults = {**defaults, **CONV_DEFAULTS[args.dataset]}
    args.timesteps = args.timesteps if args.timesteps is not None else 8
    args.mode = args.mode if args.mode is not None else "discontinuous"
    hidden = parse_int_list(args.hidden, "--hidden") if args.hidden is not None else defaults["hidden"]
    if v_bits <= w_bits:  # the trainer refuses it too, but only after loading the dataset
        raise InputError(f"v_bits = {v_bits}, w_bits = {w_bits} (--v-bits/--w-bits or the chip's): the membrane "
                         "width must exceed the weight width (chip-spec §4)")
    dataset = load_dataset(args.dataset, args.data_dir, limit=args.limit)
    if args.arch is None:
        _check_design_rules([dataset.n_pixels, *hidden, dataset.n_classes], chip)
        network_text = "-".join(map(str, [dataset.n_pixels, *hidden, dataset.n_classes]))
    else:
        network_text = _check_arch(args.arch, dataset)
    options = {
        "batch_size": args.batch_size if args.batch_size is not None else defaults["batch_size"],
        "lr": args.lr if args.lr is not None else defaults["lr"],
        "lr_final": args.lr_final if args.lr_final is not None else defaults["lr_final"],
        "loss": args.loss,
        "readout": args.readout,
        "encoding": args.encoding,
        "train_timesteps": args.train_timesteps
        or (defaults["train_timesteps"] if args.mode == "discontinuous" else None),
        "quantization_aware": not args.no_qat,
        "detach_reset": args.detach_reset,
        **({} if args.eval_train_limit is None else {"eval_train_limit": args.eval_train_limit}),
        "augment": args.augment or "",
    }
    print(f"{dataset.describe()}; network {network_text}, "
          f"{args.mode} integration, T={args.timesteps}, w_bits={w_bits}, v_bits={v_bits}", file=sys.stderr)
    result = fit(
        dataset,
        hidden=hidden,
        arch=args.arch,
        timesteps=args.timesteps,
        mode=args.mode,
        epochs=args.epochs if args.epochs is not None else defaults["epochs"],
        seed=args.seed,
        w_bits=w_bits,
        v_bits=v_bits,
        chip=chip.name,
        progress=not args.no_progress,
        command=_command_line(args),
        init=init_network,
        **options,
    )
    network = result.network
    if init_network is not None:
        _report_init(network.metadata["provenance"]["init"], args.init)
    network.save(args.output)
    r = network.metadata["results"]
    summary = {"output": args.output, "sizes": network.sizes, **r}
    print(f"wrote {args.output}: {'-'.join(map(str, network.sizes))}, thresholds {network.metadata['thresholds']}")
    print(f"| model | train accuracy | test accuracy |\n| --- | --- | --- |\n"
          f"| float | {r['float_train_accuracy']:.4f} | {r['float_test_accuracy']:.4f} |\n"
          f"| quantized, chip-simulated | {r['chip_train_accuracy']:.4f} | {r['chip_test_accuracy']:.4f} |")
    print(f"T={r['timesteps']}, {r['encoding']} encoding; train accuracy on {r['n_train_evaluated']} images; "
          f"training {r['train_seconds']:.1f} s, total {r['total_seconds']:.1f} s")
    _report_mapping(network, chip)
    return network, dataset, summary


def _init_defaults(args: argparse.Namespace):
    """``--init``: load the network; take its architecture (when neither --arch nor --hidden is given), its
    hidden-layer mode and its timesteps as the defaults of the run. Returns the network."""
    from hwsim.training.finetune import load_init_network

    network = load_init_network(args.init)
    meta = network.metadata
    if args.arch is None and args.hidden is None:
        if isinstance(meta.get("arch"), str):
            args.arch = meta["arch"]
        elif len(network.sizes) > 2:
            args.hidden = ",".join(map(str, network.sizes[1:-1]))
    if args.mode is None:
        neuron = meta.get("neuron")
        mode = neuron.get("hidden_integration") if isinstance(neuron, dict) else None
        args.mode = mode if mode in ("discontinuous", "continuous") else None
    if args.timesteps is None and meta.get("timesteps") is not None:
        args.timesteps = network_timesteps(meta, None)
    return network


def _report_init(record: dict, path: str) -> None:
    """Say whether the init network's floats re-quantized to its own integers (the start of fine-tuning)."""
    if record["exact_requantization"]:
        print(f"--init {path}: re-quantizing its float parameters gives back its integers exactly", file=sys.stderr)
    else:
        print(f"--init {path}: re-quantization differs from its integers in: "
              f"{'; '.join(record['requantization_changes'])}", file=sys.stderr)


def _check_arch(arch: str, dataset) -> str:
    """The planned layers of ``--arch`` on the dataset's images (shapes only, before training); returns a one-line
    description with every layer's output shape.

    The fan-in and core-count design rules are left to the mapper: a convolution's fan-in on the chip is its
    receptive field after receptive-field routing, not the unrolled layer's ``n_in``.
    """
    from hwsim.training.arch import parse_arch, plan_arch

    plan = plan_arch(parse_arch(arch), dataset.image_shape, dataset.n_classes, arch)
    shapes = " -> ".join("x".join(map(str, layer.out_shape)) for layer in plan)
    return f"{arch} (1x{dataset.image_shape[0]}x{dataset.image_shape[1]} -> {shapes})"


def _sweep_timesteps(network, dataset, sweep: list[int], v_bits: int) -> dict[str, float]:
    """``--sweep-timesteps``: chip-simulated test accuracy at each T, printed as a table; keyed by str(T)."""
    from hwsim.training.evaluate import accuracy_vs_timesteps

    acc = accuracy_vs_timesteps(network, dataset.x_test, dataset.y_test, sweep, v_bits=v_bits)
    print("| timesteps | chip-simulated test accuracy |\n| --- | --- |")
    for T, a in acc.items():
        print(f"| {T} | {a:.4f} |")
    return {str(k): v for k, v in acc.items()}


def _command_line(args: argparse.Namespace) -> str:
    """The training command, rebuilt from the parsed options (recorded in the network's provenance)."""
    parts = ["hwsim", "train"]
    for name in ("dataset", "data_dir", "limit", "hidden", "arch", "timesteps", "mode", "readout", "encoding", "chip",
                 "w_bits", "v_bits", "epochs", "seed", "batch_size", "lr", "lr_final", "loss", "train_timesteps",
                 "augment", "init", "eval_train_limit"):
        value = getattr(args, name, None)
        if value is not None:
            parts += ["--" + name.replace("_", "-"), str(value)]
    if args.no_qat:
        parts.append("--no-qat")
    if not args.detach_reset:
        parts.append("--no-detach-reset")
    parts += ["-o", str(args.output)]
    return " ".join(shlex.quote(p) for p in parts)


def _report_mapping(network, chip) -> None:
    """Say whether the network maps onto the chip (the mapper is optional here)."""
    try:
        from mapping import map_network
    except ImportError:
        return
    from hwsim.errors import HwsimError

    try:
        program = map_network(network, chip)
    except HwsimError as exc:
        print(f"note: the network does not map onto {chip.name}: {exc}", file=sys.stderr)
        if not chip.core.partial_sums:
            _suggest_partial_sum_preset(network)
        return
    print(f"maps onto {chip.name}: {len(program.cores)} of {chip.n_cores} cores")


def _suggest_partial_sum_preset(network) -> None:
    """Name the smallest shipped preset with partial sums that the network maps onto, if any."""
    from hwsim.config import load_chip_config
    from hwsim.errors import HwsimError
    from mapping import map_network
    from mapping.drc import partial_sum_presets
    from mapping.errors import DRCWarning

    for name in partial_sum_presets():
        chip = load_chip_config(name)
        try:
            with warnings.catch_warnings():  # a probe: 'hwsim map' on the preset shows the soft rules
                warnings.simplefilter("ignore", DRCWarning)
                program = map_network(network, chip, placement="greedy")
        except HwsimError:
            continue
        print(f"maps onto {name}: {len(program.cores)} of {chip.n_cores} cores (use --chip {name} with "
              "'hwsim map' or 'hwsim run')", file=sys.stderr)
        return
