"""The report's API-profile and migration table.

For every candidate: the profile it was called through (and why), what the harness adapted, and
its migration on the corpus's rebalance records: the replicas whose GPU changes between its plan
for seeded, perturbed loads (a plausible earlier plan) and its plan for the record's loads, with
that earlier plan passed as the old placement when the candidate accepts one. Calls go through the
sandbox pool like every other report call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from verifier.corpus import CorpusEntry
from verifier.incremental import migration, perturbed_instance, rewritten_slots
from verifier.instances import RebalanceInstance
from verifier.invariants import checked_outputs
from verifier.judge import call_on
from verifier.pool import SandboxPool
from verifier.report.tables import Table
from verifier.run_record import MigrationTally


@dataclass
class CandidateProfile:
    """One candidate's profile, adaptations and migration over the corpus."""

    candidate: str
    profile: str
    notes: tuple[str, ...]
    adapted: set[str] = field(default_factory=set)
    migration: MigrationTally = field(default_factory=MigrationTally)

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "profile": self.profile,
            "notes": list(self.notes),
            "adapted": sorted(self.adapted),
            "migration": self.migration.to_dict(),
        }


def _plan(pool: SandboxPool, spec: str, instance: RebalanceInstance, old: Any = None) -> Any:
    """The candidate's valid phy2log for an instance (None when the call is not valid)."""
    outcome = call_on(pool[spec], instance, spec=spec, old=old)
    _, outputs = checked_outputs("rebalance_experts", instance, outcome)
    return (None if outputs is None else outputs["phy2log"]), outcome.adapted


def measure_api_profiles(
    specs: Sequence[str],
    entries: Sequence[CorpusEntry],
    *,
    timeout: float,
    api: str = "auto",
    fresh: bool = True,
) -> list[CandidateProfile]:
    """Profile, adaptations and migration of every candidate on the rebalance records."""
    rebalance = [e.instance for e in entries if isinstance(e.instance, RebalanceInstance)]
    found: list[CandidateProfile] = []
    with SandboxPool(specs, timeout=timeout, api=api, fresh=fresh) as pool:
        pool.start()
        for spec in pool.specs:
            info = pool[spec].info
            assert info is not None
            measured = CandidateProfile(spec, info.profile, info.profile_notes)
            found.append(measured)
            if "rebalance_experts" not in info.functions:
                continue
            accepts = "rebalance_experts" in info.accepts_old
            for instance in rebalance:
                old, adapted = _plan(pool, spec, perturbed_instance(instance))
                measured.adapted.update(adapted)
                if old is None:
                    continue
                new, adapted = _plan(pool, spec, instance, old if accepts else None)
                measured.adapted.update(adapted)
                if new is not None:
                    measured.migration.add(
                        {
                            "moved": migration(old, new, instance.num_gpus),
                            "rewritten": rewritten_slots(old, new),
                            "replicas": instance.num_replicas * len(new),
                            "with_old_placement": accepts,
                        }
                    )
    return found


def api_profiles_table(profiles: Sequence[CandidateProfile]) -> Table:
    """One row per candidate: profile, adaptations, migration."""
    rows = []
    for profile in profiles:
        tally = profile.migration
        moved = f"{tally.share:.1%} ({tally.moved}/{tally.replicas})" if tally.cases else "n/a"
        old = "yes" if tally.with_old_placement else "no"
        adapted = "; ".join(sorted(profile.adapted)) or "nothing"
        rewritten = f"{tally.rewritten / tally.replicas:.1%}" if tally.replicas else "n/a"
        row = (
            profile.candidate,
            profile.profile,
            adapted,
            moved,
            rewritten,
            old,
            str(tally.cases),
        )
        rows.append(row)
    return Table(
        "API profiles and migration",
        "How each candidate was called (its API profile and what the harness adapted), and its "
        "migration: the share of replicas whose GPU changes between its plan for perturbed loads "
        "(loads scaled by seeded factors in [0.5, 1.5]) and its plan for the record's loads "
        "(with the earlier plan passed as the old placement when it accepts one); slots rewritten "
        "also counts moves within a GPU (what vLLM's slot preservation saves).",
        (
            "candidate",
            "profile",
            "adapted",
            "replicas moved",
            "slots rewritten",
            "old placement passed",
            "records",
        ),
        rows,
    )
