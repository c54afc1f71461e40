"""The evaluation report a writer reads: a Markdown page (scores with intervals, per-feature
parts, the paired comparisons, examples side by side) and a PNG, beside evaluation.json."""

from __future__ import annotations

from pathlib import Path

from serving.evaluation.results import EvaluationResult
from serving.foundation.atomic import write_text_atomic

EXCERPT_CHARS = 700


def write_evaluation_page(result: EvaluationResult, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_name = "evaluation.png"
    save_plot(result, out_dir / plot_name)
    path = out_dir / "evaluation.md"
    write_text_atomic(path, markdown(result, plot_name))
    return path


def markdown(result: EvaluationResult, plot_name: str) -> str:
    s = result.settings
    lines = [
        f"# Evaluation of `{result.run}`",
        "",
        f"{len(result.prompt_ids)} held-out prompts x {len(s.seeds)} seeds "
        f"(seeds {s.seeds}, temperature {s.temperature}, top_p {s.top_p}, "
        f"{s.new_tokens} new tokens); yardstick: {', '.join(result.profile['chapters'])}. "
        f"{result.created_at}, {result.wall_time_s:.0f} s.",
        "",
        f"![scores]({plot_name})",
        "",
        f"| model | role | style 0-100 (mean, {s.confidence:.0%} interval) | "
        "held-out NLL / token |",
        "|---|---|---|---|",
    ]
    for model in result.models.values():
        lines.append(
            f"| `{model.name}` | {model.role} | {model.style.mean:.1f} "
            f"[{model.style.low:.1f}, {model.style.high:.1f}] | {model.nll:.3f} |"
        )
    lines += [
        f"| author's own text | reference | {result.reference_style:.1f} | — |",
        "",
        "## Candidate against the others (paired over prompts)",
        "",
        f"| against | style difference | one-sided {s.confidence:.0%} lower bound | "
        "NLL difference (negative is better) |",
        "|---|---|---|---|",
    ]
    for comparison in result.comparisons.values():
        lines.append(
            f"| `{comparison.against}` | {comparison.style.mean:+.2f} | "
            f"{comparison.style.low:+.2f} | {comparison.nll.mean:+.4f} |"
        )
    features = sorted({key for m in result.models.values() for key in m.parts})
    if features:
        lines += ["", "## Per-feature scores", "", "| model | " + " | ".join(features) + " |",
                  "|---|" + "---|" * len(features)]  # fmt: skip
        for model in result.models.values():
            cells = " | ".join(f"{model.parts.get(k, float('nan')):.1f}" for k in features)
            lines.append(f"| `{model.name}` | {cells} |")
    lines += ["", "## Examples", ""]
    for example in result.examples:
        lines += [
            f"### {example.prompt_id}",
            "",
            "**The author**",
            "",
            _quote(example.reference),
            "",
        ]
        for role, text in example.outputs.items():
            lines += [f"**{role} (`{result.models[role].name}`)**", "", _quote(text), ""]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > EXCERPT_CHARS:
        text = text[:EXCERPT_CHARS].rsplit(" ", 1)[0] + " …"
    return "> " + (text or "(empty)")


def save_plot(result: EvaluationResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(result.models.values())
    labels = [f"{m.role}\n{m.name}" for m in models]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    means = [m.style.mean for m in models]
    errors = [
        [m.style.mean - m.style.low for m in models],
        [m.style.high - m.style.mean for m in models],
    ]
    left.bar(labels, means, yerr=errors, capsize=6, color=["#999", "#6a9", "#36c"][: len(models)])
    left.axhline(result.reference_style, color="k", ls="--", lw=1, label="author's own text")
    left.set_ylabel("style score (0-100)")
    left.set_ylim(0, 100)
    left.legend(loc="lower right")
    left.set_title("Style score vs held-out chapters")
    right.bar(labels, [m.nll for m in models], color=["#999", "#6a9", "#36c"][: len(models)])
    right.set_ylabel("mean NLL per token (lower is better)")
    right.set_title("Author's real continuation")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
