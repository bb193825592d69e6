"""Balance against moves on the corpus: every candidate's plans against the exact migration front.

The cases (one per window t -> t + 1 of a drift trace, `corpus_runs.is_drift`):

- the old placement is one common plan, the reference greedy plan of window t's loads, so every
  candidate of a case shares one front;
- each candidate plans window t + 1's loads, given that old placement when it takes one
  (`LoadInfo.accepts_old`), from scratch otherwise (the reference variants);
- its point is (moves from the old placement, max GPU load), `objectives.moves` and
  `objectives.rebalance_objective`;
- the front is OPT(K) of (loads t + 1, old placement) for K = 0 .. the fewest moves of an
  unconstrained optimum (`oracle.migration.solve_front`), proven on small cases (the sizes of
  `judging.migration_quality.judged_against_front`); on larger ones there is no front, only a
  certified interval of OPT at each point's moves, from cheap bounds and the trace's recorded
  bound for window t + 1 below (a proven recorded optimum also spares a small front its
  unconstrained solve), and the best plan known within those moves above (the old
  placement or any candidate's plan of the case): no search;
- distance to the front: (load - OPT(moves)) / OPT(moves), an interval where OPT(moves) is only
  bounded (`objectives.gap_interval`). A point below OPT(moves)'s certified bound is an oracle bug.

Move-budget records (`old_phy2log` and `max_moves`) join as cases of their own: the old placement
is the record's, one case per layer, and the candidates plan the record's loads (their budget is
not passed: no candidate API takes one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

from verifier.calling.candidates import default_reference_spec
from verifier.calling.pool import SandboxPool, started_pool
from verifier.corpus import CorpusEntry
from verifier.corpus.records import has_move_budget
from verifier.judging.migration_quality import judged_against_front
from verifier.model.instances import RebalanceInstance
from verifier.model.objectives import gap_interval, ideal_load, moves, rebalance_objective
from verifier.oracle import instance_shape
from verifier.oracle.migration import Front, solve_budgeted, solve_front
from verifier.runs.corpus_runs import is_drift, valid_plan

#: Deterministic CP-SAT seconds per point of a small front.
FRONT_LIMIT = 10.0
FUNCTION = "rebalance_experts"


@dataclass(frozen=True)
class FrontPoint:
    """OPT(budget) of one case: the best load known within the budget and a certified bound."""

    budget: int
    objective: Fraction | None
    bound: Fraction


@dataclass(frozen=True)
class MovePoint:
    """One candidate's plan of one case: its moves and load, and OPT at those moves."""

    candidate: str
    with_old: bool  # the old placement was passed
    moves: int
    load: Fraction
    opt_low: Fraction  # certified lower bound of OPT(moves)
    opt_high: Fraction  # the best load known within `moves` (at most `load`)

    @property
    def distance(self) -> tuple[Fraction, Fraction | None]:
        """The distance to the front, (load - OPT(moves)) / OPT(moves), as a certified interval
        (high end None: unbounded)."""
        return gap_interval(self.load, self.opt_low, self.opt_high)

    @property
    def below_front(self) -> bool:
        """The load beats OPT(moves)'s certified bound: an oracle (or objective) bug."""
        return self.load < self.opt_low


@dataclass(frozen=True)
class MigrationCase:
    """One old placement and one set of loads, every candidate's point, and the front."""

    entry: str
    family: str
    experts: int
    window: int  # a drift trace: old planned on window t, loads of t + 1; a record: its layer
    ideal: Fraction  # mean GPU load of the loads
    exact: bool  # the front was searched (small case); else only intervals at the points
    front: tuple[FrontPoint, ...]
    floor: Fraction  # certified bound on the unconstrained optimum
    points: tuple[MovePoint, ...]

    @property
    def group(self) -> str:
        """What the report groups cases by: the family and the size."""
        return f"{self.family}, {self.experts} experts"


@dataclass
class MigrationRun:
    """Every case, and the calls that gave no valid plan."""

    cases: list[MigrationCase] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


MigrationProgress = Callable[[str], None]


def migration_entries(entries: Sequence[CorpusEntry]) -> list[CorpusEntry]:
    """The records the section uses: drift traces of two windows or more, move-budget records."""
    return [
        entry
        for entry in entries
        if (is_drift(entry) and len(entry.instance.weights) > 1) or has_move_budget(entry.instance)
    ]


def measure_migration(
    specs: Sequence[str],
    entries: Sequence[CorpusEntry],
    *,
    timeout: float,
    api: str = "auto",
    fresh: bool = True,
    progress: MigrationProgress | None = None,
    pool: SandboxPool | None = None,
) -> MigrationRun:
    """Every candidate with a rebalance function on every migration case of the corpus (through
    `pool` when given: it must also hold the reference greedy, which plans the old placements)."""
    run = MigrationRun()
    chosen = migration_entries(entries)
    if not chosen:
        return run
    greedy = default_reference_spec()
    with started_pool(
        [*specs, greedy], pool, timeout=timeout, api=api, fresh=fresh, progress=progress
    ) as pool:
        planners = [spec for spec in dict.fromkeys(specs) if FUNCTION in pool.functions(spec)]
        for entry in chosen if planners else ():  # no rebalance candidate: no front to solve
            if progress is not None:
                progress(f"migration on {entry.family} {entry.name}")
            instance = entry.instance
            assert isinstance(instance, RebalanceInstance)
            olds, loads, bounds = _old_and_loads(pool, greedy, entry)
            if olds is None:
                run.problems.append(f"{entry.name}: no valid greedy plan for the old placement")
                continue
            plans = _candidate_plans(pool, planners, loads, olds, entry.name, run.problems)
            for index, old in enumerate(olds):
                row = {spec: (rows[index], given) for spec, (rows, given) in plans.items()}
                run.cases.append(_case(entry, loads, index, old, row, bounds[index]))
    return run


Recorded = tuple[Fraction | None, Fraction]  # a record's unconstrained optimum: objective, bound


def _old_and_loads(
    pool: SandboxPool, greedy: str, entry: CorpusEntry
) -> tuple[list[list[int]] | None, RebalanceInstance, list[Recorded]]:
    """The old placements, the instance the candidates plan, and each case's unconstrained
    optimum as the record has it (its best objective, None when unknown, and certified bound)."""
    instance = entry.instance
    assert isinstance(instance, RebalanceInstance)
    plain = replace(instance, old_phy2log=None, max_moves=None)
    if has_move_budget(instance):  # its layers are OPT(max_moves): no unconstrained optimum
        return instance.old_phy2log, plain, [(None, Fraction(0))] * len(instance.weights)
    earlier = replace(plain, weights=instance.weights[:-1])
    olds, _ = valid_plan(pool, greedy, earlier)
    later = replace(plain, weights=instance.weights[1:])
    return olds, later, [(layer.objective, layer.bound) for layer in entry.oracle.layers[1:]]


def _candidate_plans(
    pool: SandboxPool,
    specs: Sequence[str],
    instance: RebalanceInstance,
    olds: list[list[int]],
    name: str,
    problems: list[str],
) -> dict[str, tuple[list[list[int]], bool]]:
    """Each candidate's valid plans (every case of the record in one call) and whether it was
    given the old placements."""
    plans: dict[str, tuple[list[list[int]], bool]] = {}
    for spec in specs:
        info = pool[spec].info
        takes_old = info is not None and FUNCTION in info.accepts_old
        rows, _ = valid_plan(pool, spec, instance, olds if takes_old else None)
        if rows is None:
            problems.append(
                f"{spec} on {name}: no valid plan (it raised, hung or broke the contract)"
            )
        else:
            plans[spec] = (rows, takes_old)
    return plans


def _case(
    entry: CorpusEntry,
    instance: RebalanceInstance,
    index: int,
    old: list[int],
    plans: dict[str, tuple[list[int], bool]],
    recorded: Recorded,
) -> MigrationCase:
    """One case: the front (small) or the intervals (large) at every candidate's point. A proven
    recorded optimum spares the front its unconstrained solve."""
    loads = instance.weights[index]
    shape = instance_shape(instance)
    gpus = instance.num_gpus
    exact = judged_against_front(instance)
    best, floor = recorded
    known = (best, floor) if best is not None and best == floor else None
    front = None
    if exact:
        front = solve_front(loads, shape, old, time_limit=FRONT_LIMIT, seed=0, known=known)
        floor = max(floor, front.unconstrained["bound"])
    others = [plan for plan, _ in plans.values()]
    points = []
    for spec, (plan, with_old) in plans.items():
        used, load = moves(old, plan, gpus), rebalance_objective(loads, plan, gpus)
        if front is not None:
            low, high = _opt_on_front(front, used)
        else:
            within = solve_budgeted(loads, shape, old, used, time_limit=0.0, seed=0,
                                    incumbents=others, floor=floor or None)  # fmt: skip
            low, high = within.bound, within.objective
        top = load if high is None else min(high, load)
        points.append(MovePoint(spec, with_old, used, load, low, top))
    return MigrationCase(
        entry.name,
        entry.family,
        len(loads),
        index,
        ideal_load(instance, loads),
        exact,
        () if front is None else _front_points(front),
        floor,
        tuple(points),
    )


def _opt_on_front(front: Front, used: int) -> tuple[Fraction, Fraction | None]:
    """OPT(used) from a front: its point, or past the front's end the unconstrained optimum
    (at least its bound, at most the last point's load)."""
    if used < len(front.points):
        point = front.points[used]
        return point.bound, point.objective
    return front.unconstrained["bound"], front.points[-1].objective


def _front_points(front: Front) -> tuple[FrontPoint, ...]:
    return tuple(FrontPoint(p.budget, p.objective, p.bound) for p in front.points)
