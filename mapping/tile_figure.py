"""Figure of one conv layer's tiles: the feature map cut into tiles, and where each tile runs on the mesh.

Run ``python -m mapping.tile_figure [--example wide|mnist] [-o docs/figures/conv_tiles.png]``. The
examples are seeded random conv networks mapped on ``mesh8x8_28nm``: ``wide`` (default) is a 3x3 conv
from 128 channels of 8x8 to 32 channels, fan-in 1152 > 1024 axons, so every tile is a partial-sum
chain; ``mnist`` is 1x28x28 -> 8C3 -> OR pool -> 16C5 -> OR pool -> 10 (the figure shows the 16C5).
:func:`plot_layer_tiles` draws any mapped network's shaped layer.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hwsim.config import load_chip_config
from hwsim.network import Layer, Network
from hwsim.writers import figure_png
from mapping.errors import MappingError
from mapping.mapper import MappedNetwork, plan

__all__ = ["plot_layer_tiles", "example_network", "wide_example_network", "EXAMPLES", "main"]


def _conv_matrix(kernel: np.ndarray, h: int, w: int) -> np.ndarray:
    """Dense matrix of a 'same' convolution (odd kernel, stride 1), C-order flatten."""
    c_out, c_in, k, _ = kernel.shape
    pad = k // 2
    m = np.zeros((c_in, h, w, c_out, h, w), np.int32)
    for ky in range(k):
        for kx in range(k):
            for y in range(h):
                iy = y + ky - pad
                if not 0 <= iy < h:
                    continue
                for x in range(w):
                    ix = x + kx - pad
                    if 0 <= ix < w:
                        m[:, iy, ix, :, y, x] = kernel[:, :, ky, kx].T
    return m.reshape(c_in * h * w, c_out * h * w)


def _pool_matrix(c: int, h: int, w: int) -> np.ndarray:
    m = np.zeros((c, h, w, c, h // 2, w // 2), np.int32)
    for ch in range(c):
        for y in range(h):
            for x in range(w):
                m[ch, y, x, ch, y // 2, x // 2] = 1
    return m.reshape(c * h * w, c * (h // 2) * (w // 2))


def example_network(seed: int = 7) -> Network:
    """1x28x28 -> 8C3 (28x28) -> 2x2 OR pool (14x14) -> 16C5 (14x14) -> 2x2 OR pool (7x7) -> 10, random weights."""
    rng = np.random.default_rng(seed)

    def layer(weights, name, shape=None, threshold=4, fire=True):
        return Layer(weights=weights.astype(np.int32), bias=np.zeros(weights.shape[1], np.int32), threshold=threshold,
                     leak_shift=0, integration="discontinuous", reset="zero", fire=fire, name=name, shape=shape)

    c1 = _conv_matrix(rng.integers(-8, 9, size=(8, 1, 3, 3)), 28, 28)
    c2 = _conv_matrix(rng.integers(-8, 9, size=(16, 8, 5, 5)), 14, 14)
    return Network(
        layers=[
            layer(c1, "conv1", (8, 28, 28)),
            layer(_pool_matrix(8, 28, 28), "pool1", (8, 14, 14), threshold=1),
            layer(c2, "conv2", (16, 14, 14)),
            layer(_pool_matrix(16, 14, 14), "pool2", (16, 7, 7), threshold=1),
            layer(rng.integers(-8, 9, size=(16 * 49, 10)), "fc", fire=False),
        ],
        metadata={"name": "conv_example", "image_shape": [28, 28]},
    )


def wide_example_network(seed: int = 7) -> Network:
    """128x8x8 input -> 3x3 'same' conv to 32 channels (fan-in 128 x 9 = 1152 > 1024 axons) -> 10, random weights."""
    rng = np.random.default_rng(seed)
    conv = _conv_matrix(rng.integers(-2, 3, size=(32, 128, 3, 3)), 8, 8)
    return Network(
        layers=[
            Layer(weights=conv, bias=np.zeros(conv.shape[1], np.int32), threshold=40, leak_shift=0,
                  integration="discontinuous", reset="zero", fire=True, name="conv", shape=(32, 8, 8)),
            Layer(weights=rng.integers(-8, 9, size=(conv.shape[1], 10)).astype(np.int32), bias=np.zeros(10, np.int32),
                  threshold=0, leak_shift=0, integration="discontinuous", reset="zero", fire=False, name="fc"),
        ],
        metadata={"name": "wide_conv_example"},
    )


#: name -> (network builder, layer drawn by default).
EXAMPLES = {"mnist": (example_network, 2), "wide": (wide_example_network, 0)}


def plot_layer_tiles(mapped: MappedNetwork, layer: int, path: str | Path | None = None) -> bytes:
    """Left: layer ``layer``'s feature map (rows x cols), each tile a colour, channel groups side by side.
    Right: the mesh, that layer's cores in their tile's colour (partial-sum cores hatched), others grey.

    Returns the PNG bytes; also writes them atomically to ``path`` when given.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    net, chip, pl = mapped.network, mapped.chip, mapped.placement
    shape = net.layers[layer].shape
    if shape is None or pl.tiling is None or pl.tiling.layers[layer].tile is None:
        raise MappingError(f"layer {layer} ({net.layers[layer].name}) is not a tiled (shaped) layer; tiled layers: "
                           f"{[k for k, t in enumerate(pl.tiling.layers) if t.tile is not None] if pl.tiling else []}")
    lt = pl.tiling.layers[layer]
    c, h, w = shape
    groups = -(-c // lt.tile.channels)
    owner = np.full((groups, h, w), -1)
    order = lt.order
    for t, (lo, size) in enumerate(lt.groups):
        for n in order[lo : lo + size]:
            ch, rest = divmod(int(n), h * w)
            owner[ch // lt.tile.channels, rest // w, rest % w] = t
    cmap = plt.get_cmap("tab20")
    fig, (ax_map, ax_mesh) = plt.subplots(1, 2, figsize=(13, 6), gridspec_kw={"width_ratios": [1.1, 1], "wspace": 0.3})
    gap = 1
    for g in range(groups):
        x0 = g * (w + gap)
        for y in range(h):
            for x in range(w):
                t = owner[g, y, x]
                ax_map.add_patch(Rectangle((x0 + x, -y - 1), 1, 1, facecolor=cmap(t % 20), edgecolor="white", lw=0.3))
        ax_map.text(x0 + w / 2, 0.6, f"channels {g * lt.tile.channels}..{min(c, (g + 1) * lt.tile.channels) - 1}",
                    ha="center", va="bottom", fontsize=8)
    ax_map.set_xlim(-0.5, groups * (w + gap))
    ax_map.set_ylim(-h - 0.5, 2)
    ax_map.set_aspect("equal")
    ax_map.axis("off")
    rf = np.array(lt.receptive_fields)
    ax_map.set_title(
        f"{net.layers[layer].name}: {c}x{h}x{w} neurons in {len(lt.groups)} tiles of {lt.tile.channels}x"
        f"{lt.tile.rows}x{lt.tile.cols}\nreceptive fields {rf.min()}..{rf.max()} axons (halo included)\n"
        + (f"partial-sum chains of {min(lt.chains)}..{max(lt.chains)} cores" if max(lt.chains) > 1
           else "no partial sums needed"),
        fontsize=9,
    )
    rows, cols = chip.mesh_rows, chip.mesh_cols
    used = dict(zip(pl.cores, pl.parts))
    for core in range(chip.n_cores):
        r, col = divmod(core, cols)
        p = used.get(core)
        if p is None:
            face, hatch, label = (0.95, 0.95, 0.95), None, ""
        elif p.layer == layer:
            face, hatch, label = cmap(p.index % 20), ("///" if p.is_psum else None), f"t{p.index}"
            if p.chain > 1:
                label += f"\n{p.member + 1}/{p.chain}"
        else:
            face, hatch, label = (0.75, 0.75, 0.75), None, net.layers[p.layer].name
        ax_mesh.add_patch(Rectangle((col, -r - 1), 0.9, 0.9, facecolor=face, edgecolor="0.3", hatch=hatch, lw=0.6))
        ax_mesh.text(col + 0.45, -r - 0.55, label, ha="center", va="center", fontsize=6)
    ax_mesh.set_xlim(-0.2, cols + 0.1)
    ax_mesh.set_ylim(-rows - 0.2, 0.4)
    ax_mesh.set_aspect("equal")
    ax_mesh.axis("off")
    n_layer = sum(1 for p in pl.parts if p.layer == layer)
    n_psum = sum(1 for p in pl.parts if p.layer == layer and p.is_psum)
    ax_mesh.set_title(
        f"{chip.name} ({rows}x{cols}), placement {pl.method}\n{n_layer} cores for this layer "
        f"({n_psum} partial-sum cores hatched; tN m/L = tile N, member m of a chain of L)\n"
        "other layers grey, host port at core 0 (top left)",
        fontsize=9,
    )
    data = figure_png(fig, path, dpi=120)
    plt.close(fig)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="docs/figures/conv_tiles.png")
    parser.add_argument("--chip", default="mesh8x8_28nm")
    parser.add_argument("--example", choices=sorted(EXAMPLES), default="wide")
    parser.add_argument("--layer", type=int, default=None, help="layer to draw (default: the example's conv layer)")
    args = parser.parse_args(argv)
    build, layer = EXAMPLES[args.example]
    mapped = plan(build(), load_chip_config(args.chip), seed=0)
    plot_layer_tiles(mapped, layer if args.layer is None else args.layer, args.output)
    from mapping.summary import build_report, render_markdown

    text = render_markdown(build_report(mapped))
    print(text[text.index("## Tiles") :].split("\n## ")[0])
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
