"""Writing a report: report.md, report.html, report.json (every number) and the PNG plots.

Every file is written to a temporary name and moved into place, so a reader (or an interrupted
run) never sees half a report file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

from verifier.model.atomic import json_text, write_atomically
from verifier.report.conclusions import verdict
from verifier.report.metrics import ReportData
from verifier.report.migration_metrics import DEFINITION, migration_rows
from verifier.report.plots import make_plots
from verifier.report.render_html import render_html
from verifier.report.render_markdown import conclusions, render_markdown
from verifier.runs.corpus_runs import LayerScore, RunResult, WindowScore
from verifier.runs.migration_runs import MigrationCase, MigrationRun, MovePoint


def _number(value: float | None) -> float | str | None:
    """JSON has no infinity: an unbounded gap is the string "inf"."""
    if value is None:
        return None
    return "inf" if math.isinf(value) else value


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    return value


def _exact(value: Fraction | None) -> dict[str, Any] | None:
    return None if value is None else {"exact": str(value), "float": float(value)}


def _layer(score: LayerScore) -> dict[str, Any]:
    high = score.gap_high
    return {
        "layer": score.layer,
        "objective": _exact(score.objective),
        "bound": _exact(score.bound),
        "best_known": _exact(score.best_known),
        "proven": score.proven,
        "optimal": score.optimal,
        "ideal": _exact(score.ideal),
        "gap_low": float(score.gap_low),
        "gap_high": "inf" if high is None else float(high),
    }


def _window(window: WindowScore) -> dict[str, Any]:
    return {
        "planned_on": window.window,
        "scored_on": window.window + 1,
        "stale": _exact(window.stale),
        "fresh": _exact(window.fresh),
        "ideal": _exact(window.ideal),
        "bound": _exact(window.bound),
    }


def _result(result: RunResult) -> dict[str, Any]:
    return {
        "candidate": result.candidate,
        "entry": result.entry,
        "family": result.family,
        "problem": result.problem,
        "size": result.size,
        "status": result.status,
        "seconds": result.seconds,
        "violations": list(result.violations),
        "colocated_replicas": result.colocated,
        "layers": [_layer(score) for score in result.layers],
        "windows": [_window(window) for window in result.windows],
    }


def _move_point(point: MovePoint) -> dict[str, Any]:
    low, high = point.distance
    return {
        "candidate": point.candidate,
        "with_old_placement": point.with_old,
        "moves": point.moves,
        "load": _exact(point.load),
        "opt_low": _exact(point.opt_low),
        "opt_high": _exact(point.opt_high),
        "distance_low": float(low),
        "distance_high": "inf" if high is None else float(high),
        "below_front": point.below_front,
    }


def _migration_case(case: MigrationCase) -> dict[str, Any]:
    return {
        "entry": case.entry,
        "family": case.family,
        "group": case.group,
        "window": case.window,
        "ideal": _exact(case.ideal),
        "exact": case.exact,
        "unconstrained_bound": _exact(case.floor),
        "front": [
            {"max_moves": p.budget, "objective": _exact(p.objective), "bound": _exact(p.bound)}
            for p in case.front
        ],
        "points": [_move_point(point) for point in case.points],
    }


def migration_json(run: MigrationRun | None) -> dict[str, Any] | None:
    """The balance-vs-moves section: its definition, rows, every case and the failed calls."""
    if run is None:
        return None
    return {
        "definition": DEFINITION,
        "rows": [row.to_dict() for row in migration_rows(run)],
        "cases": [_migration_case(case) for case in run.cases],
        "problems": run.problems,
    }


def report_json(data: ReportData, plots: Mapping[str, Path]) -> dict[str, Any]:
    """Every number of the report, JSON-ready."""
    return _clean(
        {
            "corpus": data.corpus,
            "candidates": data.candidates,
            "families": data.families,
            "conclusions": conclusions(data),
            "cells": [cell.to_dict() for cell in data.cells],
            "comparisons": [
                {**c.to_dict(), "earns_cost": verdict(c).earns_cost} for c in data.comparisons
            ],
            "generalisation": [item.to_dict() for item in data.generalisation],
            "api_profiles": [item.to_dict() for item in data.api_profiles],
            "migration": migration_json(data.migration),
            "broken_records": data.broken_records,
            "plots": {name: path.name for name, path in plots.items()},
            "results": [_result(result) for result in data.results],
        }
    )


def write_report(data: ReportData, out: Path) -> dict[str, Path]:
    """Write every output file into `out` (created if needed); returns {kind: path}."""
    out.mkdir(parents=True, exist_ok=True)
    plots = make_plots(data, out)
    files = {
        "markdown": out / "report.md",
        "html": out / "report.html",
        "json": out / "report.json",
    }
    write_atomically(files["markdown"], render_markdown(data, plots))
    write_atomically(files["html"], render_html(data, plots))
    write_atomically(files["json"], json_text(report_json(data, plots)))
    return {**files, **plots}
