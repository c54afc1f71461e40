"""The report's two pages: index.html (self-contained, no external resources) and README.md
(for GitHub), both linking only to files next to them."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime

from benchmarks.overview.entries import (
    BenchmarkResult,
    describe_machine,
    figures_of,
    headline_numbers,
    narrative,
)

STATUS_TEXT = {
    "ran": "ran now",
    "reused": "fresh saved result",
    "stale": "old saved result",
    "failed": "FAILED",
    "missing": "MISSING",
}

# Readable here; each page gets it on one line, so committed reports do not copy it line for line.
CSS = """
body { font-family: system-ui, sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; display: block; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
.failed, .missing { color: #b00020; font-weight: 600; }
.stale { color: #a66300; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; white-space: pre-wrap; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #555; }
"""


def _markdown_html(text: str) -> str:
    """Markdown to HTML with raw HTML escaped (a benchmark's text is data, not markup)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def _when(result: BenchmarkResult) -> str:
    return result.saved_at.strftime("%Y-%m-%d %H:%M UTC") if result.saved_at else "-"


def _machine(result: BenchmarkResult) -> str:
    return describe_machine(result.data.get("machine")) if result.data else "-"


def render_html(results: Sequence[BenchmarkResult], now: datetime) -> str:
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Inkwell benchmark report {now:%Y-%m-%d}</title>",
        f"<style>{' '.join(CSS.split())}</style></head><body>",
        f"<h1>Inkwell benchmark report, {now:%Y-%m-%d}</h1>",
        f"<p>Built {now:%Y-%m-%d %H:%M} UTC. Each figure says the machine it ran on.</p>",
        "<h2>Summary</h2>",
        "<table><tr><th>benchmark</th><th>status</th><th>result from</th><th>machine</th></tr>",
    ]
    for r in results:
        out.append(
            f'<tr><td><a href="#{esc(r.name)}">{esc(r.title)}</a></td>'
            f'<td class="{r.status}">{STATUS_TEXT[r.status]}</td>'
            f"<td>{esc(_when(r))}</td><td>{esc(_machine(r))}</td></tr>"
        )
    out.append("</table>")
    for r in results:
        out.append(f'<h2 id="{esc(r.name)}">{esc(r.title)}</h2>')
        out.append(
            f'<p>Status: <span class="{r.status}">{STATUS_TEXT[r.status]}</span>'
            f" &middot; <code>{esc(r.name)}</code>"
            + (f' &middot; <a href="{esc(r.name)}.json">raw results</a>' if r.data else "")
            + "</p>"
        )
        if r.error:
            out.append(f"<pre>{esc(r.error)}</pre>")
        if r.data:
            out.append(f"<p>Ran on {esc(_machine(r))}, {esc(_when(r))}.</p>")
            story = narrative(r)
            if story:
                out.append(f'<div class="narrative">{_markdown_html(story)}</div>')
            rows = [] if story else headline_numbers(figures_of(r.data))
            if rows:
                out.append("<table><tr><th>figure</th><th>value</th></tr>")
                out += [f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in rows]
                out.append("</table>")
        for file, caption in r.figures:
            out.append(
                f'<figure><img src="{esc(file)}" alt="{esc(r.title)}: {esc(file)}">'
                f"<figcaption>{esc(caption)}</figcaption></figure>"
            )
        if r.note:
            out.append(f'<div class="narrative">{_markdown_html(r.note)}</div>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(results: Sequence[BenchmarkResult], now: datetime) -> str:
    out = [
        f"# Inkwell benchmark report, {now:%Y-%m-%d}",
        "",
        f"Built {now:%Y-%m-%d %H:%M} UTC. Each figure says the machine it ran on.",
        "",
        "| benchmark | status | result from | machine |",
        "|---|---|---|---|",
    ]
    for r in results:
        out.append(
            f"| [{_md_cell(r.title)}](#{r.name.replace('_', '-')}) | {STATUS_TEXT[r.status]} "
            f"| {_when(r)} | {_md_cell(_machine(r))} |"
        )
    for r in results:
        out += ["", f'<a id="{r.name.replace("_", "-")}"></a>', f"## {r.title}", ""]
        status = f"Status: **{STATUS_TEXT[r.status]}** (`{r.name}`)"
        out.append(status + (f", [raw results]({r.name}.json)" if r.data else ""))
        if r.error:
            out += ["", "```text", r.error, "```"]
        if r.data:
            out += ["", f"Ran on {_machine(r)}, {_when(r)}."]
            story = narrative(r)
            if story:
                out += ["", story]
            rows = [] if story else headline_numbers(figures_of(r.data))
            if rows:
                out += ["", "| figure | value |", "|---|---|"]
                out += [f"| {_md_cell(k)} | {_md_cell(v)} |" for k, v in rows]
        for file, caption in r.figures:
            out += ["", f"![{r.title}]({file})", "", f"*{caption}*"]
        if r.note:
            out += ["", r.note]
    return "\n".join(out) + "\n"
