"""The records of a run: each distinct finding with its smallest reproducer, and case counts.

`EngineResult.record(case)` folds one evaluated case in; `to_dict()` is the `--json` form of `check`
(and the findings part of `fuzz`'s).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from verifier.judging.evaluator import CaseResult
from verifier.model.findings import Finding
from verifier.model.instances import Instance, canonical_json, num_items, num_layers
from verifier.model.options import EngineOptions
from verifier.runs.baseline_record import BaselineRecord
from verifier.runs.device_paths import DevicePaths
from verifier.runs.run_record import ApiRecord
from verifier.runs.sequence_record import SequenceRecord


def instance_size(instance: Instance) -> tuple[Any, ...]:
    """Orders reproducers: fewer layers and items first, then smaller sizes and loads."""
    magnitude = sum(abs(float(value)) for row in instance.weights for value in row)
    floats = sum(isinstance(value, float) for row in instance.weights for value in row)
    layers, items = num_layers(instance), num_items(instance)
    sizes = tuple(instance.sizes().values())
    return (layers * items, layers, items, sizes, floats, magnitude, canonical_json(instance))


@dataclass
class FindingRecord:
    """One distinct finding (function, check): its smallest reproducer and how often it occurred."""

    finding: Finding
    occurrences: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {**self.finding.to_dict(), "occurrences": self.occurrences}


@dataclass
class CaseCounts:
    edge: int = 0
    generated: int = 0

    @property
    def total(self) -> int:
        return self.edge + self.generated


@dataclass
class EngineResult:
    """Everything one run of the engine found (a check, or a fuzz campaign's findings);
    `exit_code` is the CLI's verdict."""

    candidate: str
    functions: tuple[str, ...]
    options: EngineOptions
    records: dict[tuple[str, str, str], FindingRecord] = field(default_factory=dict)
    cases: dict[str, CaseCounts] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    worker_restarts: int = 0
    api: ApiRecord = field(default_factory=ApiRecord)  # profile, adaptations, migration
    baseline: BaselineRecord = field(default_factory=BaselineRecord)  # the quality comparison
    devices: DevicePaths = field(default_factory=DevicePaths)  # CUDA, the probe, or CPU only
    sequence: SequenceRecord | None = None  # `--sequence N` (`verifier.runs.sequence`)

    @property
    def violations(self) -> list[FindingRecord]:
        return [r for r in self.records.values() if r.finding.is_violation]

    @property
    def observations(self) -> list[FindingRecord]:
        return [r for r in self.records.values() if not r.finding.is_violation]

    @property
    def total_cases(self) -> int:
        return sum(counts.total for counts in self.cases.values())

    @property
    def exit_code(self) -> int:
        failing = self.records if self.options.strict else self.violations
        return 1 if failing else 0

    def context_lines(self) -> list[str]:
        """What the run measured beside its findings, as text: the API profile, adaptations and
        migration, the baseline comparison, the sequence (`check`'s summary and the plugin's)."""
        lines = self.api.lines()
        if line := self.baseline.summary():
            lines.append(line)
        return lines + (self.sequence.lines() if self.sequence is not None else [])

    def observation_line(self) -> str:
        """`observations: check in function (n of m cases), ...` ("" when there are none)."""
        seen = [
            f"{r.finding.check} in {r.finding.function} ({r.occurrences} of "
            f"{self.cases.get(r.finding.function, CaseCounts()).total} cases)"
            for r in self.observations
        ]
        return f"observations: {'; '.join(seen)}" if seen else ""

    def rate(self, function: str, check: str) -> float:
        """The share of a function's cases in which an observation occurred."""
        record = self.records.get(("observation", function, check))
        cases = self.cases.get(function, CaseCounts()).total
        return record.occurrences / cases if record and cases else 0.0

    def record(self, case: CaseResult, generated: bool) -> None:
        counts = self.cases.setdefault(case.function, CaseCounts())
        if generated:
            counts.generated += 1
        else:
            counts.edge += 1
        self.api.record(case.function, case.outcome.adapted, case.metrics)
        self.baseline.record(case.function, case.metrics.get("baseline"))
        self.devices.record(case.metrics)
        self.add_findings(case.function, case.findings)

    def add_findings(self, function: str, findings: Sequence[Finding]) -> None:
        """Fold one case's findings in (of `function` unless a finding names its own): each
        distinct finding counted once, the smaller reproducer kept."""
        seen: set[tuple[str, str, str]] = set()
        for finding in findings:
            key = (finding.severity, finding.function or function, finding.check)
            if key in seen:
                continue
            seen.add(key)
            existing = self.records.get(key)
            if existing is None:
                self.records[key] = FindingRecord(finding)
                continue
            existing.occurrences += 1
            if _smaller(finding, existing.finding):
                existing.finding = finding

    def merge(self, other: EngineResult) -> None:
        """Add another run's findings and counts (several workers, one summary): occurrences add
        up and the smaller reproducer of each finding wins, as in `record`."""
        for key, theirs in other.records.items():
            mine = self.records.get(key)
            if mine is None:
                self.records[key] = FindingRecord(theirs.finding, theirs.occurrences)
                continue
            mine.occurrences += theirs.occurrences
            if _smaller(theirs.finding, mine.finding):
                mine.finding = theirs.finding
        for function, counts in other.cases.items():
            total = self.cases.setdefault(function, CaseCounts())
            total.edge += counts.edge
            total.generated += counts.generated
        self.notes += [note for note in other.notes if note not in self.notes]
        self.elapsed = max(self.elapsed, other.elapsed)
        self.worker_restarts += other.worker_restarts
        self.functions = self.functions or other.functions
        self.api.merge(other.api)
        self.baseline.merge(other.baseline)
        self.devices.merge(other.devices)

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable form (`--json`)."""
        ordered = sorted(
            self.records.values(),
            key=lambda r: (not r.finding.is_violation, r.finding.function, r.finding.check),
        )
        return {
            "candidate": self.candidate,
            "functions": list(self.functions),
            "options": {
                "budget": self.options.budget,
                "seed": self.options.seed,
                "policy": self.options.policy,
                "device": self.options.device,
                "strict": self.options.strict,
                "timeout": self.options.timeout,
                "max_cases": self.options.max_cases,
                "database": self.options.database,
                "api": self.options.api,
                "fresh_instance": self.options.fresh_instance,
                "allow_cross_layer": self.options.allow_cross_layer,
                "baseline": self.options.baseline,
                "max_regression": self.options.max_regression,
                "baseline_api": self.options.baseline_api,
                "device_probe": self.options.device_probe,
                "max_moves": self.options.max_moves,
            },
            "baseline": self.baseline.to_dict(),
            "api": self.api.to_dict(),
            "migration": self.api.migration.to_dict(),
            "devices": self.devices.to_dict(),
            "sequence": self.sequence.to_dict() if self.sequence is not None else None,
            "exit_code": self.exit_code,
            "elapsed_seconds": round(self.elapsed, 3),
            "cases": {
                fn: {"edge": c.edge, "generated": c.generated} for fn, c in self.cases.items()
            },
            "violations": len(self.violations),
            "observations": len(self.observations),
            "worker_restarts": self.worker_restarts,
            "notes": self.notes,
            "findings": [record.to_dict() for record in ordered],
        }


def _smaller(candidate: Finding, current: Finding) -> bool:
    if candidate.instance is None or current.instance is None:
        return False
    return instance_size(candidate.instance) < instance_size(current.instance)
