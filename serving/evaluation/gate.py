"""`inkwell gate RUN`: the candidate goes live only if it writes measurably more like the author
than both the live adapter and the base model — by at least `gate.margin` style points, with
the paired-bootstrap lower bound of the difference above zero — and, when `gate.require_nll`,
it does not predict the author's real text worse than what is live now. Otherwise nothing
changes and the decision says why."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from serving.engine.client import EngineClient
from serving.evaluation.results import EVALUATION_DIR, EvaluationResult
from serving.foundation.atomic import write_json_atomic
from serving.foundation.config import GateConfig
from serving.foundation.workspace import Workspace
from serving.registry import hotload

DECISION_FILE = "gate.json"


class Check(BaseModel):
    name: str
    passed: bool
    detail: str


class GateDecision(BaseModel):
    run: str
    promote: bool
    checks: list[Check]
    live_before: str | None
    decided_at: str

    def summary(self) -> str:
        verdict = "PROMOTED" if self.promote else "NOT promoted"
        lines = [f"{self.run}: {verdict}"]
        lines += [f"  [{'ok' if c.passed else 'no'}] {c.name}: {c.detail}" for c in self.checks]
        return "\n".join(lines)


def decide(result: EvaluationResult, gate: GateConfig, live_now: str | None) -> GateDecision:
    """The decision from an evaluation alone (no side effects)."""
    checks = []
    evaluated_live = result.models["live"].name if "live" in result.models else None
    checks.append(
        Check(
            name="evaluation is current",
            passed=evaluated_live == live_now and result.run != live_now,
            detail=(
                f"compared with live {evaluated_live or 'none'}; live now {live_now or 'none'}"
                + (" (already live)" if result.run == live_now else "")
            ),
        )
    )
    for role in ("live", "base"):
        comparison = result.comparisons.get(role)
        if comparison is None:
            continue
        style = comparison.style
        checks.append(
            Check(
                name=f"style beats {role} ({comparison.against})",
                passed=style.mean >= gate.margin and style.low > 0,
                detail=(
                    f"{style.mean:+.2f} points (needs >= {gate.margin:+.2f}), "
                    f"{gate_level(result)} lower bound {style.low:+.2f} (needs > 0)"
                ),
            )
        )
    if gate.require_nll:
        role = "live" if "live" in result.comparisons else "base"
        nll = result.comparisons[role].nll
        checks.append(
            Check(
                name=f"held-out NLL not worse than {role}",
                passed=nll.mean <= 0,
                detail=(
                    f"{result.models['candidate'].nll:.4f} vs {result.models[role].nll:.4f} "
                    f"per token ({nll.mean:+.4f})"
                ),
            )
        )
    return GateDecision(
        run=result.run,
        promote=all(check.passed for check in checks),
        checks=checks,
        live_before=live_now,
        decided_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def gate_level(result: EvaluationResult) -> str:
    return f"{result.settings.confidence:.0%}"


def gate_run(ws: Workspace, run: str, client: EngineClient | None) -> GateDecision:
    """Decide on `run` from its evaluation and promote it when it passes (atomically; the
    engine loads it first when one runs). The decision is saved beside the evaluation."""
    registry = hotload.registry_for(ws)
    record = registry.get(run)
    run_dir = registry.adapter_path(record)
    result = EvaluationResult.load(run_dir)
    with registry.locked():  # the live adapter decided against is the one replaced
        live = registry.live()
        decision = decide(result, ws.config.gate, live.name if live else None)
        if decision.promote:
            reason = "; ".join(c.detail for c in decision.checks if c.name.startswith("style"))
            hotload.promote(ws, client, run, reason=f"gate: {reason}")
    write_json_atomic(run_dir / EVALUATION_DIR / DECISION_FILE, decision.model_dump(mode="json"))
    registry.set_scores(
        run,
        {"gate": {"promoted": decision.promote, "decided_at": decision.decided_at,
                  "failed": [c.name for c in decision.checks if not c.passed]}},
    )  # fmt: skip
    return decision
