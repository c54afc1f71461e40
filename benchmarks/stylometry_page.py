"""The stylometry benchmark's Markdown tables and figures (accuracy by length, reliability)."""

from __future__ import annotations

METHODS_SHOWN = (
    "inkwell",
    "svm_words_chars",
    "cosine_delta",
    "char_ngrams",
    "burrows_delta",
    "sentence_length",
    "faststylometry_burrows_delta",
)


def length_table(by_words: dict[int, dict]) -> str:
    lengths = list(by_words)
    head = "| method | " + " | ".join(f"{w} words: top-1 / AUC" for w in lengths) + " |"
    rows = [head, "|---" * (len(lengths) + 1) + "|"]
    for m in METHODS_SHOWN:
        cells = [f"{by_words[w][m]['top1']:.1%} / {by_words[w][m]['auc']:.3f}" for w in lengths]
        rows.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def calibration_table(by_words: dict[int, dict]) -> str:
    rows = ["| words | c@1 | Brier |", "|---|---|---|"]
    for w, methods in by_words.items():
        s = methods["inkwell"]
        rows.append(f"| {w} | {s['c_at_1']:.3f} | {s['brier']:.3f} |")
    return "\n".join(rows)


def accuracy_plot(protocols: dict[str, dict]):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(protocols), 2, figsize=(11, 4 * len(protocols)), squeeze=False)
    for row, (name, p) in zip(axes, protocols.items(), strict=True):
        lengths = list(p["by_words"])
        xs = [int(w) for w in lengths]
        for col, key in zip(row, ("top1", "auc"), strict=True):
            for m in METHODS_SHOWN:
                ys = [p["by_words"][w][m][key] for w in lengths]
                col.plot(xs, ys, marker="o", lw=2.5 if m == "inkwell" else 1.2, label=m)
            col.set_xscale("log")
            col.set_xticks(xs, [f"{x:,}" for x in xs])  # the measured lengths, not 10^k
            col.minorticks_off()
            col.set_xlabel("words per sample")
            col.set_ylabel("top-1" if key == "top1" else "verification AUC")
            col.set_title(f"{name.replace('_', ' ')}: {'top-1' if key == 'top1' else 'AUC'}")
            col.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def reliability_plot(protocols: dict[str, dict]):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(protocols), figsize=(5.5 * len(protocols), 5), squeeze=False)
    for ax, (name, p) in zip(axes[0], protocols.items(), strict=True):
        ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
        for w, methods in p["by_words"].items():
            bins = methods["inkwell"]["reliability"]
            ax.plot(
                [b["predicted"] for b in bins],
                [b["observed"] for b in bins],
                "o-",
                label=f"{w} words",
            )
        ax.set_xlabel("score / 100 (predicted P(same author))")
        ax.set_ylabel("share of same-author pairs (class-balanced)")
        ax.set_title(f"reliability, {name.replace('_', ' ')}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
