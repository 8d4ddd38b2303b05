"""Every figure the CLI writes, drawn headless with matplotlib's object-oriented API."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps

# Figure + an explicit Agg canvas never touch pyplot's global state or the backend setting,
# so plotting works without a display and from worker threads.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mnist_cnn.atomic import atomic_path

DPI = 110


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> None:
    # Write to a temporary sibling first so a crash never leaves a truncated PNG at `path`.
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png", facecolor="white")


def _as_images(images: np.ndarray) -> tuple[np.ndarray, float]:
    """Return (N, H, W) images and the value that means full ink (1.0 for floats, else 255)."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:  # Keras-style (N, 28, 28, 1)
        images = images[..., 0]
    vmax = 1.0 if images.dtype.kind == "f" and (images.size == 0 or images.max() <= 1.0) else 255.0
    return images, vmax


def plot_history(rows: Sequence[dict[str, float]], path: str | Path) -> None:
    """Plot training and validation loss and accuracy per epoch, side by side."""
    epochs = [int(row["epoch"]) for row in rows]
    fig = _new_figure(11, 4.2)
    panels = (("loss", "Loss"), ("accuracy", "Accuracy"))
    # Markers keep a single epoch (one point, no line segment) visible.
    marker = "o" if len(rows) <= 20 else None
    for index, (key, title) in enumerate(panels):
        ax = fig.add_subplot(1, 2, index + 1)
        for prefix, label, colour in (
            ("", "train", "tab:blue"),
            ("val_", "validation", "tab:orange"),
        ):
            points = [(e, row[prefix + key]) for e, row in zip(epochs, rows, strict=True) if prefix + key in row]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker=marker, markersize=4, color=colour, label=label)
        ax.set_title(title)
        ax.set_xlabel("Epoch")
        ax.set_ylabel(title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(set(epochs)) == 1:  # a lone point would otherwise get a padded, fractional range
            ax.set_xlim(epochs[0] - 0.5, epochs[0] + 0.5)
            ax.set_xticks([epochs[0]])
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    _save(fig, path)


def plot_samples(images: np.ndarray, labels: np.ndarray, path: str | Path, grid: int = 5) -> None:
    """Plot the first grid x grid digits, each titled with its label."""
    images, vmax = _as_images(images)
    labels = np.asarray(labels).ravel()
    count = min(len(images), grid * grid)
    titles = [f"label: {int(labels[i])}" for i in range(count)]
    fig = _new_figure(1, 1)  # sized by _digit_grid
    _digit_grid(fig, images[:count], titles, grid, grid, vmax, fontsize=10)
    _save(fig, path)


def _digit_grid(fig: Figure, images: np.ndarray, titles: list[str], rows: int, columns: int, vmax: float,
                fontsize: int) -> None:  # fmt: skip
    """Digits in a grid, each with a title above it, drawn as ONE image on one Axes.

    One Axes with a montage and text labels renders several times faster than a subplot per digit
    (matplotlib's cost is per Axes and per layout pass), which is most of a short run's fixed overhead.
    """
    gap, title_room = 6, 14  # pixels between digits, and above each for its title (in 28-px digit units)
    cell_w, cell_h = 28 + gap, 28 + gap + title_room
    canvas = np.full((rows * cell_h, columns * cell_w), np.nan, dtype=np.float32)
    for index, image in enumerate(images):
        r, c = divmod(index, columns)
        top, left = r * cell_h + title_room + gap // 2, c * cell_w + gap // 2
        canvas[top : top + 28, left : left + 28] = image
    fig.set_size_inches(columns * cell_w / 20, rows * cell_h / 20)  # digits stay square
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.98))
    cmap = colormaps["gray_r"].with_extremes(bad="white")  # NaN: the space between digits
    ax.imshow(canvas, cmap=cmap, vmin=0, vmax=vmax, interpolation="nearest", aspect="auto")
    for index, title in enumerate(titles):
        r, c = divmod(index, columns)
        ax.text(c * cell_w + cell_w / 2, r * cell_h + title_room - 1, title, ha="center", va="bottom",
                fontsize=fontsize)  # fmt: skip
    ax.axis("off")


def plot_confusion_matrix(matrix: np.ndarray, path: str | Path, title: str = "Confusion matrix (test set)") -> None:
    """Plot a confusion-matrix heatmap with every count written in its cell."""
    matrix = np.asarray(matrix, dtype=np.int64)
    rows, cols = matrix.shape
    fig = _new_figure(7.5, 6.5)
    ax = fig.add_subplot(1, 1, 1)
    # Log colour scale: the ~1000-count diagonal would otherwise wash out single-digit errors.
    # Zeros are masked, so they render as blank cells (LogNorm cannot map 0).
    norm = LogNorm(vmin=1, vmax=max(int(matrix.max()), 10))
    masked = np.ma.masked_less_equal(matrix, 0)
    # Start the colour ramp above white so a single error is visibly tinted, unlike a blank zero.
    cmap = ListedColormap(colormaps["Blues"](np.linspace(0.15, 1.0, 256)))
    image = ax.imshow(masked, cmap=cmap, norm=norm, interpolation="nearest")
    ax.set_facecolor("white")
    colourbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    colourbar.set_label("count (log scale)")
    fontsize = 9 if matrix.max() >= 1000 else 10
    for i in range(rows):
        for j in range(cols):
            count = int(matrix[i, j])
            if count == 0:
                colour = "lightgrey"  # a faint 0 keeps the grid readable without competing
            else:
                colour = "white" if norm(count) > 0.55 else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=colour, fontsize=fontsize)
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.set_title(title)
    fig.tight_layout()
    _save(fig, path)


def plot_misclassified(
    images: np.ndarray,
    true: np.ndarray,
    predicted: np.ndarray,
    confidence: np.ndarray,
    path: str | Path,
    max_items: int = 25,
) -> None:
    """Plot the given misclassified digits (in the order given) with true, predicted, confidence."""
    images, vmax = _as_images(images)
    count = min(len(images), max(int(max_items), 0))
    if count == 0:
        # An empty run (or a perfect model) still gets a figure, so the run directory is complete.
        fig = _new_figure(5, 2)
        fig.text(0.5, 0.5, "No misclassified test images", ha="center", va="center", fontsize=14)
        _save(fig, path)
        return
    columns = min(5, count)
    grid_rows = math.ceil(count / columns)
    titles = [
        f"true {int(true[i])} → pred {int(predicted[i])}\n{100 * float(confidence[i]):.1f}%" for i in range(count)
    ]
    fig = _new_figure(1, 1)  # sized by _digit_grid
    _digit_grid(fig, images[:count], titles, grid_rows, columns, vmax, fontsize=9)
    _save(fig, path)


def plot_robustness(reports: dict[str, dict], path: str | Path) -> None:
    """Accuracy against strength, one panel per transform, one line per model (robustness.measure reports)."""
    first = next(iter(reports.values()))
    names = list(dict.fromkeys(r["transform"] for r in first["rows"]))
    fig = _new_figure(2.3 * len(names), 3.0)
    axes = fig.subplots(1, len(names), sharey=True)
    for label, report in reports.items():
        for ax, name in zip(axes, names, strict=True):
            rows = [r for r in report["rows"] if r["transform"] == name]
            # An inverted picture is only ever read through predict's preprocessing, which undoes it.
            key = "preprocessed_accuracy" if name == "inverted" else "accuracy"
            line = ax.plot([str(r["strength"]) for r in rows], [r[key] * 100 for r in rows], "o-", label=label)
            ax.axhline(report["clean_accuracy"] * 100, color=line[0].get_color(), linewidth=0.8, linestyle="--")
    for ax, name in zip(axes, names, strict=True):
        ax.set_title(name + (" (preprocessed)" if name == "inverted" else ""), fontsize=9)
        ax.set_xlabel(next(r["unit"] for r in first["rows"] if r["transform"] == name), fontsize=8)
        ax.tick_params(labelsize=8)
    axes[0].set_ylabel("test accuracy (%)")
    if len(reports) > 1:
        axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Test accuracy under distortion (dashed: undistorted)", fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def new_figure(width: float, height: float) -> Figure:
    """A headless figure of the given size in inches (no pyplot state)."""
    return _new_figure(width, height)


def save_figure(fig: Figure, path: str | Path) -> None:
    """Write a figure as PNG atomically."""
    _save(fig, path)


def plot_filters(name: str, kernels: np.ndarray, path: str | Path, columns: int = 16) -> None:
    """The first convolution layer's learned kernels (kh, kw, in, out), one tile per filter."""
    kernels = np.asarray(kernels, np.float32).mean(axis=2)  # one input channel for MNIST: the kernel itself
    count = kernels.shape[-1]
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    limit = float(np.abs(kernels).max()) or 1.0
    fig = _new_figure(0.55 * columns + 0.6, 0.55 * rows + 0.8)
    fig.suptitle(f"{name}: {count} learned {kernels.shape[0]}×{kernels.shape[1]} kernels (red +, blue −)", fontsize=9)
    for index in range(count):
        axes = fig.add_subplot(rows, columns, index + 1)
        axes.imshow(kernels[..., index], cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        axes.set_xticks([])
        axes.set_yticks([])
    _save(fig, path)


def plot_first_layer_filters(model, path: str | Path) -> bool:
    """filters.png for a Keras model with a convolution layer; False (nothing written) when it has none."""
    from mnist_cnn.explain.layers import first_kernels

    found = first_kernels(model)
    if found is None:
        return False
    plot_filters(*found, path)
    return True
