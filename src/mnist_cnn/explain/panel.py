"""The PNG panel a person looks at: the input, its saliency, the top-3 answers and every layer's feature maps."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from mnist_cnn.explain.explainer import Explanation

TILE_COLUMNS = 16  # feature maps per row of a layer's grid
GAP = 1  # pixels between tiles


def saliency_rgb(image: np.ndarray, saliency: np.ndarray) -> np.ndarray:
    """(28, 28, 3) floats: the digit in grey, red where hiding lowers the answer, blue where it raises it."""
    grey = 0.25 + 0.5 * np.clip(np.asarray(image, np.float32).reshape(28, 28), 0, 1)
    peak = float(np.abs(saliency).max())
    weight = saliency / peak if peak > 0 else np.zeros_like(saliency)
    red, blue = np.clip(weight, 0, 1), np.clip(-weight, 0, 1)
    rgb = np.repeat(grey[..., np.newaxis], 3, axis=2)
    rgb = rgb * (1 - np.maximum(red, blue))[..., np.newaxis]
    rgb[..., 0] += red
    rgb[..., 2] += blue
    return np.clip(rgb, 0, 1)


def mosaic(maps: np.ndarray, columns: int = TILE_COLUMNS) -> np.ndarray:
    """(H, W, C) feature maps as one grid image, scaled by the layer's maximum; gaps are NaN."""
    height, width, channels = maps.shape
    columns = min(columns, channels)
    rows = math.ceil(channels / columns)
    peak = float(maps.max())
    scaled = np.clip(maps / peak, 0, 1) if peak > 0 else np.zeros_like(maps)
    grid = np.full((rows * (height + GAP) - GAP, columns * (width + GAP) - GAP), np.nan, np.float32)
    for channel in range(channels):
        r, c = divmod(channel, columns)
        grid[r * (height + GAP) : r * (height + GAP) + height, c * (width + GAP) : c * (width + GAP) + width] = scaled[
            ..., channel
        ]
    return grid


def write_panel(explanation: Explanation, path: str | Path, title: str = "") -> None:
    """Write the explanation as one PNG (atomically, like every figure)."""
    from matplotlib import colormaps
    from matplotlib.gridspec import GridSpec

    from mnist_cnn.plots import new_figure, save_figure

    grids = [mosaic(maps) for maps in explanation.maps]
    heights = [2.2] + [max(0.9, 7.6 * g.shape[0] / g.shape[1]) + 0.35 for g in grids]
    if explanation.missing:
        heights.append(0.5)
    fig = new_figure(8, sum(heights))
    spec = GridSpec(len(heights), 3, figure=fig, height_ratios=heights, hspace=0.45, wspace=0.3)
    if title:
        fig.suptitle(title, fontsize=11)
    seen = fig.add_subplot(spec[0, 0])
    seen.imshow(explanation.image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    seen.set_title("what the model saw (28×28)", fontsize=9)
    heat = fig.add_subplot(spec[0, 1])
    heat.imshow(saliency_rgb(explanation.image, explanation.saliency), interpolation="nearest")
    heat.set_title(f"saliency for {explanation.digit}\n(red: hiding it lowers the answer)", fontsize=9)
    bars = fig.add_subplot(spec[0, 2])
    _top3(bars, explanation)
    cmap = colormaps["viridis"].with_extremes(bad="white")
    for row, (layer, grid) in enumerate(zip(explanation.layers, grids, strict=True), start=1):
        axes = fig.add_subplot(spec[row, :])
        axes.imshow(grid, cmap=cmap, vmin=0, vmax=1, interpolation="nearest", aspect="equal")
        h, w, c = layer.shape
        axes.set_title(f"{layer.name} ({layer.kind}): {c} feature maps of {h}×{w}", fontsize=9, loc="left")
    for axes in fig.axes:
        if axes is bars:
            continue
        axes.set_xticks([])
        axes.set_yticks([])
    if explanation.missing:
        note = fig.add_subplot(spec[-1, :])
        note.axis("off")
        note.text(0, 0.5, f"No feature maps: {explanation.missing}", fontsize=8, wrap=True, va="center")
    save_figure(fig, path)


def _top3(axes, explanation: Explanation) -> None:
    top = explanation.top(3)
    labels = [str(t["digit"]) for t in top][::-1]
    values = [t["probability"] for t in top][::-1]
    axes.barh(labels, values, color=["#9aa3ad"] * (len(top) - 1) + ["#2f6fde"])
    axes.set_xlim(0, 1)
    for y, value in enumerate(values):
        axes.text(min(value, 0.62) + 0.02, y, f"{value:.1%}", va="center", fontsize=9)
    axes.set_title("top 3", fontsize=9)
    axes.tick_params(labelsize=9)
