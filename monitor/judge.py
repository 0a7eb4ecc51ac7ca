"""The judgement of a rollout (a shadow or a canary): the candidate against production on the same labelled
predictions (paired: the rows both scored), with their error rates and latencies. Promote when the candidate is
not worse than production by more than the tolerance, with the confidence asked for; roll back when it is worse
(or fails, or is slow); wait while the labels cannot say either."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any, Literal

Decision = Literal["promote", "rollback", "wait"]


@dataclass(frozen=True)
class Paired:
    """One labelled prediction that both versions scored."""

    label: str
    production: str
    candidate: str


@dataclass(frozen=True)
class Served:
    """How a version answered its requests over the rollout: how many, how many failed, and how fast."""

    requests: int = 0
    errors: int = 0
    p99_ms: float | None = None

    @property
    def error_rate(self) -> float:
        """Failed requests over requests (0 with none)."""
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Rules:
    """When the labels are enough to decide, and what the candidate may lose."""

    #: Paired labelled predictions needed before any decision on accuracy.
    min_labels: int = 50
    #: Accuracy the candidate may lose against production (absolute, e.g. 0.01), the gate's tolerance.
    tolerance: float = 0.0
    #: Confidence of the interval on the accuracy difference.
    confidence: float = 0.95
    #: With this many paired labels and still no confident answer, decide on the point estimate.
    max_labels: int = 1000
    #: Requests a version must have answered before its error rate and latency count.
    min_requests: int = 20
    #: The candidate's error rate may exceed production's by at most this much.
    max_error_increase: float = 0.01
    #: The candidate's p99 latency may be at most this many times production's.
    max_latency_ratio: float = 2.0


@dataclass(frozen=True)
class Judgement:
    """The decision, its one-line reason, and the numbers it rests on."""

    decision: Decision
    reason: str
    labels: int
    production_accuracy: float | None = None
    candidate_accuracy: float | None = None
    #: Candidate minus production accuracy on the paired rows, and its confidence interval.
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    #: Rows only production got right, and rows only the candidate got right (the discordant pairs).
    only_production: int = 0
    only_candidate: int = 0
    #: McNemar's exact test on the discordant pairs (two-sided).
    p_value: float | None = None

    def to_doc(self) -> dict[str, Any]:
        """As stored with the rollout's event and alias move."""
        return asdict(self)


def mcnemar_p(only_production: int, only_candidate: int) -> float:
    """Two-sided exact McNemar p-value: the discordant pairs against a fair coin."""
    n = only_production + only_candidate
    if n == 0:
        return 1.0
    k = min(only_production, only_candidate)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def judge(pairs: list[Paired], production: Served, candidate: Served, rules: Rules = Rules()) -> Judgement:
    """Promote, roll back or wait, from the paired labelled predictions and how each version served."""
    served = _served_verdict(production, candidate, rules)
    n = len(pairs)
    if not n:
        return served or Judgement("wait", f"no labelled prediction both versions scored yet (need "
                                           f"{rules.min_labels})", 0)
    prod_right = [p.production == p.label for p in pairs]
    cand_right = [p.candidate == p.label for p in pairs]
    b = sum(p and not c for p, c in zip(prod_right, cand_right, strict=True))
    c = sum(c and not p for p, c in zip(prod_right, cand_right, strict=True))
    diff = (c - b) / n
    spread = math.sqrt(max((b + c) / n - diff**2, 0.0) / n)
    z = NormalDist().inv_cdf(0.5 + rules.confidence / 2)
    low, high = diff - z * spread, diff + z * spread
    numbers = dict(labels=n, production_accuracy=sum(prod_right) / n, candidate_accuracy=sum(cand_right) / n,
                   difference=diff, low=low, high=high, only_production=b, only_candidate=c,
                   p_value=mcnemar_p(b, c))
    said = (f"candidate {numbers['candidate_accuracy']:.3f} vs production {numbers['production_accuracy']:.3f} on "
            f"the same {n} labelled rows (difference {diff:+.3f}, {rules.confidence:.0%} interval {low:+.3f} to "
            f"{high:+.3f}; McNemar p={numbers['p_value']:.3g})")
    if served is not None:
        return Judgement(served.decision, f"{served.reason}; {said}", **numbers)  # type: ignore[arg-type]
    decision, why = _on_labels(n, diff, low, high, rules)
    return Judgement(decision, f"{said}: {why}", **numbers)  # type: ignore[arg-type]


def _on_labels(n: int, diff: float, low: float, high: float, rules: Rules) -> tuple[Decision, str]:
    """The decision the paired labels support, and why."""
    allowed = -rules.tolerance
    if n < rules.min_labels:
        return "wait", f"{n} of the {rules.min_labels} labels needed"
    if high < allowed:
        return "rollback", f"worse by more than the tolerance {rules.tolerance:g}"
    if low >= allowed:
        return "promote", f"not worse by more than the tolerance {rules.tolerance:g}"
    if n >= rules.max_labels:
        decision: Decision = "promote" if diff >= allowed else "rollback"
        return decision, f"undecided at {n} labels, decided on the difference itself"
    return "wait", f"the interval still spans the tolerance {rules.tolerance:g}"


def _served_verdict(production: Served, candidate: Served, rules: Rules) -> Judgement | None:
    """A rollback for failing or slow serving, whatever the labels say (``None`` when serving is fine)."""
    if candidate.requests < rules.min_requests:
        return None
    if candidate.error_rate > production.error_rate + rules.max_error_increase:
        return Judgement("rollback", f"the candidate failed {candidate.errors} of {candidate.requests} requests "
                                     f"({candidate.error_rate:.1%}) vs production's {production.error_rate:.1%}", 0)
    if candidate.p99_ms and production.p99_ms and production.requests >= rules.min_requests \
            and candidate.p99_ms > rules.max_latency_ratio * production.p99_ms:
        return Judgement("rollback", f"the candidate's p99 latency {candidate.p99_ms:.0f} ms is over "
                                     f"{rules.max_latency_ratio:g}x production's {production.p99_ms:.0f} ms", 0)
    return None
