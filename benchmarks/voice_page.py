"""The voice benchmark's figures: per variant and author the JSON the issue asks for
(base_style, matching_style, matching_style_lower, other_style, own_text_style), the training
curve, held-out NLL and best-of-n; Markdown and plots from them."""

from __future__ import annotations

from typing import Any

TARGET_MATCHING = 75.0
TARGET_LOWER = 65.0
TARGET_BASE = 35.0


def summarise(results: dict[str, dict], params: dict) -> dict[str, Any]:
    variants = {}
    for label, result in results.items():
        authors = {}
        for author in params["authors"]:
            authors[author] = author_figures(result, author, params["authors"])
        variants[label] = {"overrides": result["overrides"], "authors": authors}
    chosen = variants.get("default") or next(iter(variants.values()))
    return {
        "params": {k: v for k, v in params.items() if k != "engine_url"},
        "authors": chosen["authors"],  # the shipped recipe's figures, per author
        "variants": variants,
        "targets": {"matching": TARGET_MATCHING, "lower": TARGET_LOWER, "base": TARGET_BASE},
    }


def author_figures(result: dict, author: str, authors: list[str]) -> dict[str, Any]:
    other = next(a for a in authors if a != author)
    figures: dict[str, Any] = {
        "training": result["training"][author],
        "scoring_4x300": result["scoring"][author]["scoring_4x300"],
    }
    trial = next((t for t in result.get("trials", []) if t["yardstick"] == author), None)
    if trial is None:  # engine=False: no generations to score
        return figures
    figures.update(
        base_style=trial["style"]["base"],
        matching_style=trial["style"][author],
        matching_style_lower=trial["style_interval"][author][0],
        matching_style_upper=trial["style_interval"][author][1],
        other_style=trial["style"][other],
        own_text_style=trial["reference_style"],
        nll=trial["nll"],
        gate_promoted_matching=trial["gate_promoted_matching"],
        best_of=result.get("best_of", {}).get(author),  # None: best-of-n not measured
    )
    figures["meets_targets"] = (
        figures["matching_style"] >= TARGET_MATCHING
        and figures["matching_style_lower"] >= TARGET_LOWER
        and figures["base_style"] <= TARGET_BASE
        and trial["gate_promoted_matching"]
    )
    return figures


def markdown(figures: dict, title: str) -> str:
    p = figures["params"]
    best_of = (
        f"best-of-{p['best_of']} on {p['best_of_prompts']} prompts"
        if p["best_of"]
        else "best-of-n not measured"
    )
    lines = [
        f"# {title}",
        "",
        f"Authors {', '.join(p['authors'])}; chapters of {p['chapter_words']} words, the last "
        f"{p['held_out_chapters']} held out; {p['budget_minutes']} min training budget per "
        f"adapter; {p['prompts']} prompts x {len(p['seeds'])} seeds x {p['new_tokens']} "
        f"tokens; {best_of}. Targets: matching >= {TARGET_MATCHING:g} (95% lower bound >= "
        f"{TARGET_LOWER:g}), base <= {TARGET_BASE:g}.",
        "",
        "| variant | author | steps (training time) | tokens/s | best eval loss | base "
        "| matching [95%] | other | own text | gate | best-of gain | scoring 4x300 p50 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, variant in figures["variants"].items():
        for author, f in variant["authors"].items():
            lines.append(_row(label, author, f))
    lines += [
        "",
        "Variants are `--set` overrides on the shipped config for this device: "
        + "; ".join(
            f"`{label}`: {' '.join(v['overrides']) or '(as shipped)'}"
            for label, v in figures["variants"].items()
        ),
    ]
    return "\n".join(lines)


def _row(label: str, author: str, f: dict) -> str:
    t = f["training"]
    loss = t["best_eval_loss"]
    cells = [
        label,
        author,
        f"{t['steps']} in {t['seconds'] / 60:.1f} min",
        str(t.get("tokens_per_s")),
        f"{loss:.4f}" if loss else "n/a",
    ]
    if "matching_style" in f:
        best = f["best_of"]["gain"] if f["best_of"] else None
        cells += [
            f"{f['base_style']:.1f}",
            f"{f['matching_style']:.1f} [{f['matching_style_lower']:.1f}, "
            f"{f['matching_style_upper']:.1f}]",
            f"{f['other_style']:.1f}",
            f"{f['own_text_style']:.1f}",
            "promoted" if f["gate_promoted_matching"] else "kept other",
            f"{best['mean']:+.1f} (lower {best['low']:+.1f})" if best else "not measured",
        ]
    else:
        cells += ["(no engine)"] * 6
    cells.append(f"{f['scoring_4x300']['p50_ms']}")
    return "| " + " | ".join(cells) + " |"


def plots(figures: dict) -> dict[str, Any]:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (label, variant) in enumerate(figures["variants"].items()):
        for j, (author, f) in enumerate(variant["authors"].items()):
            style = "-" if j == 0 else "--"
            for key, marker in (("train_loss", "o"), ("eval_loss", "s")):
                points = f["training"][key]
                ax.plot(
                    [q["step"] for q in points], [q["loss"] for q in points], style,
                    marker=marker, color=f"C{i}", label=f"{label} {author} {key[:-5]}",
                )  # fmt: skip
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (the author's tokens)")
    ax.set_title("Training curves")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    figs = {"training curves": fig}
    if any(
        "matching_style" in f for v in figures["variants"].values() for f in v["authors"].values()
    ):
        figs["style by variant"] = _style_plot(plt, figures)
    return figs


def _style_plot(plt: Any, figures: dict) -> Any:
    """Per author and variant: the matching adapter's score with its 95% interval, next to
    base and the other author's adapter, against the target."""
    variants = figures["variants"]
    authors = list(figures["params"]["authors"])
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(len(variants), 1)
    for i, (label, variant) in enumerate(variants.items()):
        xs, mid, err, base, other = [], [], [[], []], [], []
        for j, author in enumerate(authors):
            f = variant["authors"].get(author, {})
            if "matching_style" not in f:
                continue
            xs.append(j - 0.4 + width * (i + 0.5))
            mid.append(f["matching_style"])
            err[0].append(f["matching_style"] - f["matching_style_lower"])
            err[1].append(f["matching_style_upper"] - f["matching_style"])
            base.append(f["base_style"])
            other.append(f["other_style"])
        ax.errorbar(xs, mid, yerr=err, fmt="o", capsize=4, color=f"C{i}", label=label)
        ax.scatter(xs, base, marker="x", color=f"C{i}", alpha=0.6)
        ax.scatter(xs, other, marker="v", color=f"C{i}", alpha=0.6)
    ax.axhline(TARGET_MATCHING, color="red", ls="--", lw=1, label="target (matching)")
    ax.set_xticks(range(len(authors)), authors)
    ax.set_ylim(0, 100)
    ax.set_ylabel("style score on the author's yardstick")
    ax.set_title("Matching adapter [95%] per variant; x base, v other author's adapter")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    return fig
