"""The report's figures, drawn from benchmark results, each one labelled with the machine it
ran on (in the image itself, so a PNG shared on its own still says where it came from).

A benchmark gets a standard figure by putting one of these keys anywhere in its `figures`:
- `style_scores`: {label: {"mean", "low", "high"}} or {label: [scores]} -> score per model,
  with intervals (a list gets a bootstrap 95% interval of its mean)
- `confusion_matrix`: {"labels": [...], "matrix": [[count, ...], ...]} (rows: true author)
- `latency_ms`: {series: [milliseconds, ...]} -> distributions side by side
- `loss_curves`: {run: {"step": [...], "loss": [...], "val_step"?: [...], "val_loss"?: [...]}}
The PNGs a benchmark drew itself are copied too, stamped with the same machine line.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

FOOTER_FONT_PX = 12
DPI = 110


def find_key(data: Any, key: str) -> Any | None:
    """First value stored under `key` at any depth of nested dicts (depth-first)."""
    if isinstance(data, Mapping):
        if key in data:
            return data[key]
        for value in data.values():
            found = find_key(value, key)
            if found is not None:
                return found
    return None


def bootstrap_interval(values: list[float], level: float = 0.95, samples: int = 2000):
    """(mean, low, high): percentile bootstrap of the mean, seeded so reports are repeatable."""
    array = np.asarray(values, dtype=float)
    rng = np.random.default_rng(0)
    means = rng.choice(array, size=(samples, array.size), replace=True).mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(array.mean()), float(low), float(high)


def _interval(entry: Any) -> tuple[float, float, float]:
    if isinstance(entry, Mapping):
        mean = float(entry["mean"])
        return mean, float(entry.get("low", mean)), float(entry.get("high", mean))
    return bootstrap_interval([float(v) for v in entry])


def style_scores_figure(data: Mapping[str, Any]) -> Figure:
    labels = list(data)
    stats = [_interval(data[label]) for label in labels]
    means = np.array([s[0] for s in stats])
    errors = np.array([[s[0] - s[1] for s in stats], [s[2] - s[0] for s in stats]])
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(labels) + 1.6))
    ax.barh(labels, means, xerr=errors, color="#4c72b0", capsize=4)
    for y, (mean, _low, high) in enumerate(stats):
        ax.text(min(high + 1, 99), y, f"{mean:.1f}", va="center", fontsize=8)
    ax.set_xlim(0, 100)
    ax.invert_yaxis()
    ax.set_xlabel("style score (0-100), bars: 95% interval")
    ax.set_title("Style score per model and reference text")
    return fig


def confusion_figure(data: Mapping[str, Any]) -> Figure:
    labels = list(data["labels"])
    matrix = np.asarray(data["matrix"], dtype=float)
    fig, ax = plt.subplots(figsize=(1.0 * len(labels) + 2.5, 0.9 * len(labels) + 2))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted author")
    ax.set_ylabel("true author")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), value in np.ndenumerate(matrix):
        colour = "white" if value > threshold else "black"
        ax.text(col, row, f"{value:g}", ha="center", va="center", color=colour, fontsize=8)
    ax.set_title("Attribution confusion matrix")
    return fig


def latency_figure(data: Mapping[str, Any]) -> Figure:
    labels = list(data)
    series = [np.asarray(data[label], dtype=float) for label in labels]
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(labels) + 1.8))
    ax.boxplot(series, orientation="horizontal", tick_labels=labels, showfliers=False)
    rng = np.random.default_rng(0)
    for y, values in enumerate(series, start=1):
        ax.scatter(values, y + rng.uniform(-0.12, 0.12, values.size), s=10, alpha=0.6)
        if values.size:
            ax.text(
                values.max(), y + 0.3,
                f"median {np.median(values):.0f} ms, p95 {np.percentile(values, 95):.0f} ms",
                fontsize=8, ha="right",
            )  # fmt: skip
    ax.invert_yaxis()
    ax.set_xlabel("latency (ms)")
    ax.set_title("Latency distributions")
    return fig


def loss_figure(data: Mapping[str, Any]) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 4))
    for run, curve in data.items():
        line = ax.plot(curve["step"], curve["loss"], label=f"{run} train")[0]
        if curve.get("val_loss"):
            steps = curve.get("val_step") or curve["step"][: len(curve["val_loss"])]
            ax.plot(steps, curve["val_loss"], "--o", color=line.get_color(), label=f"{run} val")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    ax.set_title("Training loss")
    return fig


STANDARD_FIGURES: dict[str, Callable[[Any], Figure]] = {
    "style_scores": style_scores_figure,
    "confusion_matrix": confusion_figure,
    "latency_ms": latency_figure,
    "loss_curves": loss_figure,
}


def standard_figures(figures: Mapping[str, Any]) -> Iterator[tuple[str, Figure]]:
    """(key, figure) for each standard key present in a benchmark's figures."""
    for key, draw in STANDARD_FIGURES.items():
        data = find_key(figures, key)
        if data:
            yield key, draw(data)


def save_with_footer(fig: Figure, path: Path, footer: str) -> None:
    width_px = fig.get_figwidth() * DPI
    lines = textwrap.wrap(footer, width=max(30, int(width_px / 6.4)))
    height_in = fig.get_figheight()
    footer_in = 0.14 * len(lines) + 0.08
    fig.set_figheight(height_in + footer_in)
    fig.text(0.01, 0.01, "\n".join(lines), fontsize=7, color="#555555", ha="left", va="bottom")
    fig.tight_layout(rect=(0, footer_in / (height_in + footer_in), 1, 1))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def stamp_copy(source: Path, target: Path, footer: str) -> None:
    """Copy a PNG with a footer strip saying where it ran (wrapped to the image's width)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(FOOTER_FONT_PX)
    with Image.open(source) as opened:
        image = opened.convert("RGB")
    measure = ImageDraw.Draw(image)
    lines: list[str] = []
    for word in footer.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and measure.textlength(candidate, font=font) <= image.width - 12:
            lines[-1] = candidate
        else:
            lines.append(word)
    line_px = FOOTER_FONT_PX + 4
    canvas = Image.new("RGB", (image.width, image.height + line_px * len(lines) + 10), "white")
    canvas.paste(image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(lines):
        draw.text((6, image.height + 5 + i * line_px), line, fill="#555555", font=font)
    canvas.save(target, format="PNG")
