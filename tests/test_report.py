"""`inkwell bench report`: the page a person reads, built by the real report code from small
synthetic result files, checked as data and in headless Chromium (renders, images load, no
broken links), and robust to benchmarks that fail or are missing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from unittest import mock

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from benchmarks.harness.results import write_results
from benchmarks.overview.build import build_overview

MACHINE = {"cpu": "Test CPU 9000", "cores": 2, "ram_gib": 7.7, "gpu": None, "python": "3.11.9",
           "torch": "2.13.0", "platform": "Linux-test"}  # fmt: skip
CATALOGUE = {
    "stylometry_attribution": "Stylometry attribution",
    "proxy_overhead": "Proxy overhead",
    "continue_latency": "End-to-end latency through Continue",
    "train_throughput": "Training throughput",
    "retrieval": "Retrieval quality",
    "gate": "The adapter gate",
}


def save_result(
    results: Path,
    name: str,
    figures: dict,
    *,
    plots: dict | None = None,
    markdown: str = "",
    age_hours: float = 0.0,
) -> Path:
    """A result as a benchmark saves it (the shared writer), from a machine of our choosing."""
    with mock.patch("benchmarks.harness.results.machine_info", return_value=MACHINE):
        text = f"# {name}\n\n{markdown}"
        out = write_results(results / name, name, figures, text, plots or {})
    path = out / f"{name}.json"
    stamp = time.time() - age_hours * 3600
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report over: three good results (one with its own PNG), one stale, one corrupt,
    and one benchmark that was never run."""
    root = tmp_path_factory.mktemp("bench")
    results = root / "results"
    save_result(results, "stylometry_attribution", {
        "auc": 0.93,
        "style_scores": {
            "held-out author text": [81, 78, 85, 90, 76],
            "base": {"mean": 42.0, "low": 38.5, "high": 45.1},
            "adapter run-1": {"mean": 63.0, "low": 59.0, "high": 66.2},
            "other authors": [20, 31, 25, 18],
        },
        "confusion_matrix": {"labels": ["austen", "dickens", "twain"],
                             "matrix": [[9, 1, 0], [2, 7, 1], [0, 0, 10]]},
    }, markdown="Three authors <b>held out</b>, see [the data](data.csv).\n\n"
                "| author | top-1 |\n|---|---|\n| austen | 0.9 |\n")  # fmt: skip
    save_result(results, "continue_latency", {
        "runs": 4,
        "latency_ms": {"cn -> proxy -> vLLM": [3100, 3300, 2900, 3500],
                       "cn -> vLLM": [3000, 3150, 2850, 3300]},
    })  # fmt: skip
    save_result(results, "train_throughput", {
        "tokens_per_s": 812.5,
        "loss_curves": {"lora": {"step": [1, 2, 3, 4], "loss": [3.1, 2.7, 2.5, 2.4],
                                 "val_step": [2, 4], "val_loss": [2.9, 2.6]}},
    })  # fmt: skip
    # A benchmark that drew its own plot: shown as drawn, its data not drawn a second time.
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([1, 2, 3], [3, 1, 2])
    save_result(results, "proxy_overhead", {"latency_ms": {"direct": [1, 2], "proxy": [2, 3]}},
                plots={"added ms": fig})  # fmt: skip
    save_result(results, "gate", {"promoted": False, "margin": 2.0}, age_hours=72)
    (results / "retrieval").mkdir()
    (results / "retrieval" / "retrieval.json").write_text("{not json", encoding="utf-8")
    catalogue = {**CATALOGUE, "never_run": "A benchmark with no result"}
    return build_overview(
        results_dir=results,
        reports_dir=root / "reports",
        fresh_hours=24,
        allow_run=False,
        benchmarks=catalogue,
    )


class PageLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if attr.get("id"):
            self.ids.add(attr["id"])
        if tag == "img":
            self.images.append(attr["src"] or "")
        if tag == "a" and attr.get("href"):
            self.links.append(attr["href"] or "")


def test_pages_list_every_benchmark_with_its_status(report: Path) -> None:
    html = (report / "index.html").read_text(encoding="utf-8")
    markdown = (report / "README.md").read_text(encoding="utf-8")
    for page in (html, markdown):
        for title in (*CATALOGUE.values(), "A benchmark with no result"):
            assert title in page
        assert "FAILED" in page and "retrieval.json: unreadable result" in page
        assert "MISSING" in page and "no saved result" in page
        assert "old saved result" in page  # the 72 h old gate result, shown but flagged
        assert "Test CPU 9000, 2 cores, 7.7 GiB RAM, Python 3.11.9, torch 2.13.0, no GPU" in page
        assert "812.5" in page  # headline numbers of a result without its own write-up
        assert "style_scores.base" not in page  # plotted data is drawn, not tabulated


def test_each_benchmarks_own_write_up_is_included(report: Path) -> None:
    html = (report / "index.html").read_text(encoding="utf-8")
    markdown = (report / "README.md").read_text(encoding="utf-8")
    assert "<td>austen</td>" in html  # its Markdown table, rendered
    assert "&lt;b&gt;held out&lt;/b&gt;" in html  # its text is data, never markup
    assert "see the data." in html and "see the data." in markdown  # dead local link dropped
    assert "| austen | 0.9 |" in markdown


def test_figures_are_drawn_and_say_where_they_ran(report: Path) -> None:
    html = (report / "index.html").read_text(encoding="utf-8")
    expected = {
        "stylometry_attribution-style_scores.png",
        "stylometry_attribution-confusion_matrix.png",
        "continue_latency-latency_ms.png",
        "train_throughput-loss_curves.png",
        "proxy_overhead-proxy_overhead_added_ms.png",  # its own plot, copied and stamped
    }
    assert {p.name for p in report.glob("*.png")} == expected
    for name in expected:
        assert f'src="{name}"' in html
        assert re.search(rf'src="{re.escape(name)}".*?Ran on Test CPU 9000', html, re.S)
        assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_links_are_relative_and_resolve(report: Path) -> None:
    for page in ("index.html",):
        parser = PageLinks()
        parser.feed((report / page).read_text(encoding="utf-8"))
        assert parser.images
        for target in parser.images + parser.links:
            assert "://" not in target and not target.startswith("/"), target
            if target.startswith("#"):
                assert target[1:] in parser.ids, target
            else:
                assert (report / target).is_file(), target
    markdown = (report / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+)\)", markdown):
        assert (report / target).is_file(), target


def test_a_failing_benchmark_is_reported_not_a_crash(tmp_path: Path) -> None:
    out = build_overview(
        results_dir=tmp_path / "results",
        reports_dir=tmp_path / "reports",
        allow_run=True,
        timeout_s=120,
        benchmarks={"no_such_benchmark_module": "Does not exist"},
    )
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "FAILED" in html and "No module named" in html


def test_malformed_figure_data_is_reported_not_a_crash(tmp_path: Path) -> None:
    results = tmp_path / "results"
    save_result(results, "gate", {"style_scores": {"base": {"no mean": 1}}, "margin": 2.0})
    out = build_overview(
        results_dir=results,
        reports_dir=tmp_path / "reports",
        allow_run=False,
        benchmarks={"gate": "The adapter gate"},
    )
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "could not draw its figures from gate.json" in html and "margin" in html


def test_rebuilding_replaces_the_report_in_place(tmp_path: Path) -> None:
    results = tmp_path / "results"
    save_result(results, "gate", {"promoted": True})
    first = build_overview(
        results_dir=results,
        reports_dir=tmp_path / "reports",
        allow_run=False,
        benchmarks={"gate": "The adapter gate"},
    )
    save_result(results, "gate", {"promoted": False})
    again = build_overview(
        results_dir=results,
        reports_dir=tmp_path / "reports",
        allow_run=False,
        benchmarks={"gate": "The adapter gate"},
    )
    assert again == first
    assert json.loads((again / "gate.json").read_text())["promoted"] is False
    assert [p.name for p in (tmp_path / "reports").iterdir()] == [first.name]


def test_notes_and_extra_material_survive_a_rebuild(tmp_path: Path) -> None:
    """A person's context for a benchmark (notes/<name>.md) shows in its section, and it and
    any folder it links to are still there after `bench report` builds the report again."""
    results, reports = tmp_path / "results", tmp_path / "reports"
    save_result(results, "gate", {"promoted": True})
    build = {"results_dir": results, "reports_dir": reports, "allow_run": False,
             "benchmarks": {"gate": "The adapter gate"}}  # fmt: skip
    out = build_overview(**build)
    (out / "notes").mkdir()
    (out / "notes" / "gate.md").write_text("How this run was made: [other corpus](more/x.md).\n")
    (out / "more").mkdir()
    (out / "more" / "x.md").write_text("the same benchmark elsewhere\n")
    again = build_overview(**build)
    readme = (again / "README.md").read_text()
    assert "How this run was made: [other corpus](more/x.md)." in readme
    assert readme.index("How this run was made") > readme.index("## The adapter gate")
    assert "How this run was made" in (again / "index.html").read_text()
    assert (again / "more" / "x.md").read_text() == "the same benchmark elsewhere\n"


CHECK_SCRIPT = """
<script>
window.addEventListener("load", () => {
  const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0);
  const out = document.createElement("pre");
  out.id = "inkwell-check";
  out.textContent = JSON.stringify({
    images: document.images.length,
    broken: broken.map(i => i.getAttribute("src")),
    widths: [...document.images].map(i => i.naturalWidth),
    title: document.title,
  });
  document.body.appendChild(out);
});
</script>
"""


def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Chromium not found: install Debian's `chromium` (apt-get install -y chromium)")
    # A copy of the page next to it, with a tiny script that reports on every image.
    page = report / "index.html"
    probe = report / "_probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", CHECK_SCRIPT + "</body>"))
    try:
        done = subprocess.run(
            [
                chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
                "--virtual-time-budget=10000", "--dump-dom", probe.as_uri(),
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        probe.unlink()
    assert done.returncode == 0, done.stderr[-2000:]
    match = re.search(r'<pre id="inkwell-check">(.*?)</pre>', done.stdout, re.S)
    assert match, f"page did not finish loading; stderr: {done.stderr[-2000:]}"
    check = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert check["title"].startswith("Inkwell benchmark report")
    assert check["images"] == 5 and check["broken"] == []
    assert all(width > 200 for width in check["widths"])
    assert "Stylometry attribution" in done.stdout
