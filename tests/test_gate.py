"""The gate: a candidate goes live only when it measurably writes more like the author than
both the live adapter and the base model, and the held-out NLL does not get worse."""

from __future__ import annotations

from serving.evaluation import EvalSettings, EvaluationResult, decide
from serving.evaluation.results import Comparison, ModelResult
from serving.evaluation.stats import bootstrap_mean, paired_bootstrap
from serving.foundation.config import GateConfig

GATE = GateConfig(margin=2.0, confidence=0.95, bootstrap_samples=2000)
SETTINGS = EvalSettings.from_gate(GATE)


def model(role: str, name: str, style: list[float], nll: list[float]) -> ModelResult:
    return ModelResult(
        role=role, name=name,
        style=bootstrap_mean(style, samples=500, confidence=0.95),
        parts={}, nll=sum(nll) / len(nll), per_prompt_style=style, per_prompt_nll=nll,
    )  # fmt: skip


def result(candidate: list[float], live: list[float] | None, base: list[float],
           nll: dict[str, float] | None = None) -> EvaluationResult:  # fmt: skip
    nll = nll or {"base": 3.8, "live": 3.7, "candidate": 3.6}
    n = len(candidate)
    models = {"base": model("base", "base", base, [nll["base"]] * n)}
    if live is not None:
        models["live"] = model("live", "old", live, [nll["live"]] * n)
    models["candidate"] = model("candidate", "new", candidate, [nll["candidate"]] * n)
    comparisons = {}
    for role, other in models.items():
        if role == "candidate":
            continue
        comparisons[role] = Comparison(
            against=other.name,
            style=paired_bootstrap(candidate, other.per_prompt_style,
                                   samples=GATE.bootstrap_samples, confidence=GATE.confidence),
            nll=paired_bootstrap(models["candidate"].per_prompt_nll, other.per_prompt_nll,
                                 samples=GATE.bootstrap_samples, confidence=GATE.confidence),
        )  # fmt: skip
    return EvaluationResult(
        run="new", created_at="now", settings=SETTINGS, profile={"chapters": []},
        prompt_ids=[str(i) for i in range(n)], models=models, reference_style=80.0,
        comparisons=comparisons,
    )  # fmt: skip


BASE = [40.0, 45, 38, 50, 42, 47, 41, 39, 44, 46, 43, 48]
LIVE = [v + 5 for v in BASE]


def test_clear_winner_is_promoted() -> None:
    decision = decide(result([v + 6 for v in LIVE], LIVE, BASE), GATE, live_now="old")
    assert decision.promote, decision.summary()


def test_candidate_that_scores_no_better_is_refused() -> None:
    decision = decide(result(list(LIVE), LIVE, BASE), GATE, live_now="old")
    assert not decision.promote
    failed = [c.name for c in decision.checks if not c.passed]
    assert failed == ["style beats live (old)"]


def test_a_mean_win_with_noise_is_refused_by_the_lower_bound() -> None:
    # +3 on average, but only because of two prompts: the paired lower bound is below zero.
    noisy = [v - 4 for v in LIVE]
    noisy[0] += 50
    noisy[1] += 34
    decision = decide(result(noisy, LIVE, BASE), GATE, live_now="old")
    style = next(c for c in decision.checks if c.name.startswith("style beats live"))
    assert not style.passed and "lower bound" in style.detail


def test_worse_nll_is_refused_when_required() -> None:
    worse = {"base": 3.8, "live": 3.6, "candidate": 3.7}
    decision = decide(result([v + 6 for v in LIVE], LIVE, BASE, worse), GATE, live_now="old")
    assert not decision.promote
    relaxed = GATE.model_copy(update={"require_nll": False})
    assert decide(result([v + 6 for v in LIVE], LIVE, BASE, worse), relaxed, "old").promote


def test_stale_evaluation_is_refused() -> None:
    """Evaluated against `old`, but something else went live since."""
    decision = decide(result([v + 6 for v in LIVE], LIVE, BASE), GATE, live_now="other")
    assert not decision.promote
    assert not decision.checks[0].passed


def test_first_adapter_only_has_to_beat_base() -> None:
    decision = decide(result([v + 6 for v in BASE], None, BASE), GATE, live_now=None)
    assert decision.promote, decision.summary()
