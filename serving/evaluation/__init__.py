"""Evaluation of a candidate adapter against base and live, and the gate that promotes it."""

from serving.evaluation.evaluate import evaluate_run
from serving.evaluation.gate import GateDecision, decide, gate_run
from serving.evaluation.results import EvalSettings, EvaluationResult

__all__ = ["EvalSettings", "EvaluationResult", "GateDecision", "decide", "evaluate_run", "gate_run"]
