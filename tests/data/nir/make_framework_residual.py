"""Export a small residual SNN built in snnTorch with a real NIR exporter, and store it with the framework's own
output spikes for hwsim's tests (tests/mapping/test_nir_graphs.py).

NOT collected by pytest and NOT run by `make test`: it needs PyTorch, snnTorch and nirtorch. Run it by hand, from
the repository root, in the framework venv of make_framework_conv.py (torch 2.13.0+cpu, nir 1.0.8, nirtorch 2.6,
snnTorch 1.0.0):

    OMP_NUM_THREADS=1 /work/coord/fwvenv/bin/python tests/data/nir/make_framework_residual.py

Why not snnTorch's own ``export_to_nir``: in snnTorch 1.0.0 (and Norse 1.1.0's ``to_nir``) it uses nirtorch's old
``extract_nir_graph``, which silently drops a residual add: for ``lif2(fc2(lif1(fc1(x))) + skip(x))`` it writes
``input -> fc1 -> lif1 -> fc2 -> output`` (no ``skip``, no ``lif2``). nirtorch 2.6's ``torch_to_nir`` (torch.fx)
traces the add and writes it as NIR does, two edges into ``lif2``; the nodes are converted by snnTorch's own
``_extract_snntorch_module``, the function ``export_to_nir`` uses per module.

The network is chosen so that the framework's float arithmetic equals the chip's integers exactly: integer
weights and biases, ``Leaky(beta=0, reset_mechanism="none")`` (the membrane is this step's input: exported as LIF
with tau = dt, r = 1, a discontinuous core on the chip), thresholds 0.5 (fires when the integer input >= 1).

Files written to tests/data/nir/ (graphs: the Input and Output types, a missing Conv2d ``input_shape`` and
Flatten ``input_type`` filled in, as nir.write needs them; nothing else edited):
    snntorch_residual.nir / .npz        the residual MLP; rasters (B, T, 6) uint8 and the framework's output
                                        spikes (B, T, 4) uint8
    snntorch_conv_residual.nir / .npz   a conv residual block (1x5x5 input, 3x3 convs, 1x1 conv skip, Flatten,
                                        Linear readout layer); rasters (B, T, 25), spikes (B, T, 4)
"""

from __future__ import annotations

from pathlib import Path

import nir
import nirtorch
import numpy as np
import snntorch
import snntorch.utils
import torch
from snntorch.export_nir import _extract_snntorch_module

OUT = Path(__file__).resolve().parent
N_IN, N_HID, N_OUT, T, B = 6, 8, 4, 6, 16


class Residual(torch.nn.Module):
    """lif2(fc2(lif1(fc1(x))) + skip(x)): a hidden layer and a skip from the input, summed into the output."""

    def __init__(self) -> None:
        super().__init__()

        def leaky(n: int) -> snntorch.Leaky:
            return snntorch.Leaky(beta=torch.zeros(n), threshold=torch.full((n,), 0.5), reset_mechanism="none",
                                  init_hidden=True)

        self.fc1, self.lif1 = torch.nn.Linear(N_IN, N_HID), leaky(N_HID)
        self.fc2, self.skip = torch.nn.Linear(N_HID, N_OUT), torch.nn.Linear(N_IN, N_OUT)
        self.lif2 = leaky(N_OUT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif2(self.fc2(self.lif1(self.fc1(x))) + self.skip(x))


class ConvResidual(torch.nn.Module):
    """A conv residual block: lif2(conv2(lif1(conv1(x))) + conv_skip(x)) (a 1x1 conv on the skip), then a readout."""

    def __init__(self) -> None:
        super().__init__()

        def leaky(shape: tuple[int, ...]) -> snntorch.Leaky:
            return snntorch.Leaky(beta=torch.zeros(shape), threshold=torch.full(shape, 0.5), reset_mechanism="none",
                                  init_hidden=True)

        self.conv1, self.lif1 = torch.nn.Conv2d(1, 2, 3, padding=1), leaky((2, 5, 5))
        self.conv2, self.skip = torch.nn.Conv2d(2, 2, 3, padding=1), torch.nn.Conv2d(1, 2, 1)
        self.lif2 = leaky((2, 5, 5))
        self.flat, self.fc, self.lif3 = torch.nn.Flatten(), torch.nn.Linear(50, N_OUT), leaky((N_OUT,))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.lif2(self.conv2(self.lif1(self.conv1(x))) + self.skip(x))
        return self.lif3(self.fc(self.flat(h)))


def export(net: torch.nn.Module, in_shape: tuple[int, ...], name: str, rng: np.random.Generator) -> None:
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, (torch.nn.Linear, torch.nn.Conv2d)):
                mod.weight.copy_(torch.from_numpy(rng.integers(-2, 3, size=tuple(mod.weight.shape)).astype(np.float32)))
                mod.bias.copy_(torch.from_numpy(rng.integers(-1, 2, size=tuple(mod.bias.shape)).astype(np.float32)))
    convert = _extract_snntorch_module
    module_map = {snntorch.Leaky: convert, torch.nn.Linear: convert, torch.nn.Conv2d: convert,
                  torch.nn.Flatten: convert}
    graph = nirtorch.torch_to_nir(net, module_map, type_check=False)
    # torch_to_nir leaves the Input and Output types None, which nir.write cannot store
    for key, node in list(graph.nodes.items()):
        if isinstance(node, nir.Input):
            graph.nodes[key] = nir.Input(input_type={"input": np.array(in_shape)})
        elif isinstance(node, nir.Output):
            graph.nodes[key] = nir.Output(output_type={"output": np.array([N_OUT])})
        elif isinstance(node, nir.Conv2d) and node.input_shape is None:
            node.input_shape = np.array(in_shape[1:])  # every conv here keeps the 5x5 input size
        elif isinstance(node, nir.Flatten) and node.input_type["input"] is None:
            src = next(a for a, b in graph.edges if b == key)  # the LIF before it knows its (C, H, W)
            graph.nodes[key] = nir.Flatten(input_type={"input": graph.nodes[src].output_type["output"]},
                                           start_dim=node.start_dim, end_dim=node.end_dim)
    print(name, {k: type(n).__name__ for k, n in graph.nodes.items()}, graph.edges)
    nir.write(OUT / f"{name}.nir", graph)
    n_in = int(np.prod(in_shape))
    rasters = (rng.random((B, T, n_in)) < 0.5).astype(np.uint8)
    spikes = np.zeros((B, T, N_OUT), np.uint8)
    with torch.no_grad():
        for b in range(B):
            snntorch.utils.reset(net)
            for t in range(T):
                x = torch.from_numpy(rasters[b, t].astype(np.float32)).reshape(1, *in_shape)
                spikes[b, t] = net(x)[0].numpy()
    np.savez(OUT / f"{name}.npz", rasters=rasters, spikes=spikes)
    print("output spikes:", int(spikes.sum()), "of", spikes.size)


def main() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    export(Residual(), (N_IN,), "snntorch_residual", rng)
    export(ConvResidual(), (1, 5, 5), "snntorch_conv_residual", rng)


if __name__ == "__main__":
    main()
