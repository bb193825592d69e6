"""The report's PNG plots (matplotlib, Agg backend: no display needed).

- gap_by_family.png: distribution of the certified gap per family and candidate (box plots);
- gap_vs_size.png: gap against instance size (experts or items per layer), proven layers filled;
- balancedness.png: balancedness per rebalance family and candidate;
- runtime.png: median time per record, per family and candidate;
- generalisation.png: balancedness of stale vs fresh plans on drift traces (when there are any);
- migration.png: balance against moves, one panel per group of cases: every case's exact front
  (balancedness at OPT(K) against K) and every candidate's points; where OPT is only bracketed,
  the bracket at each point's moves.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from verifier.model.atomic import write_atomically
from verifier.model.objectives import balance_ratio
from verifier.report.conclusions import short
from verifier.report.metrics import ALL, ReportData
from verifier.report.migration_metrics import candidates_of, grouped_cases
from verifier.runs.migration_runs import MigrationCase

DPI = 110


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colours(count: int) -> list[Any]:
    plt = _pyplot()
    palette = plt.get_cmap("tab10")
    return [palette(index % 10) for index in range(count)]


def _save(figure: Any, path: Path) -> Path:
    """Render the PNG in memory, then write it atomically (never half a plot on disk)."""
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=DPI)
    _pyplot().close(figure)
    write_atomically(path, image.getvalue())
    return path


def _finite_gaps(data: ReportData, family: str | None, candidate: str) -> list[float]:
    return [
        100 * float(score.gap_high)
        for result in data.results
        if result.candidate == candidate and (family is None or result.family == family)
        for score in result.layers
        if score.gap_high is not None
    ]


def gap_by_family(data: ReportData, path: Path) -> Path:
    plt = _pyplot()
    families = data.families
    count = len(data.candidates)
    figure, axes = plt.subplots(
        figsize=(min(14.0, max(7.0, 0.45 * len(families) * (count + 1))), 4.8)
    )
    colours = _colours(count)
    for index, candidate in enumerate(data.candidates):
        samples = [_finite_gaps(data, family, candidate) or [math.nan] for family in families]
        positions = [f * (count + 1) + index for f in range(len(families))]
        boxes = axes.boxplot(
            samples, positions=positions, widths=0.8, patch_artist=True, showfliers=True
        )
        for box in boxes["boxes"]:
            box.set_facecolor(colours[index])
            box.set_alpha(0.7)
        axes.plot([], [], color=colours[index], linewidth=8, label=short(candidate))
    axes.set_xticks([f * (count + 1) + (count - 1) / 2 for f in range(len(families))])
    axes.set_xticklabels(families, rotation=30, ha="right")
    axes.set_yscale("symlog", linthresh=1.0)
    axes.set_ylim(bottom=0)
    axes.set_ylabel("gap vs certified lower bound (%)")
    axes.set_title("Optimality gap per family (exact where proven, else certified upper end)")
    axes.legend(fontsize="small")
    axes.grid(axis="y", alpha=0.3)
    return _save(figure, path)


def gap_vs_size(data: ReportData, path: Path) -> Path:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7.5, 4.8))
    colours = _colours(len(data.candidates))
    for index, candidate in enumerate(data.candidates):
        jitter = 1 + 0.04 * (index - (len(data.candidates) - 1) / 2)
        for proven, fill in ((True, colours[index]), (False, "none")):
            points = [
                (result.size * jitter, 100 * float(score.gap_high))
                for result in data.results
                if result.candidate == candidate
                for score in result.layers
                if score.gap_high is not None and score.proven == proven
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                label = f"{short(candidate)} ({'proven' if proven else 'bound only'})"
                axes.scatter(xs, ys, s=18, facecolors=fill, edgecolors=colours[index], label=label)
    axes.set_xscale("log")
    axes.set_yscale("symlog", linthresh=1.0)
    axes.set_ylim(bottom=0)
    axes.set_xlabel("experts (or items) per layer")
    axes.set_ylabel("gap (%)")
    axes.set_title("Gap vs instance size (filled: proven optimum; hollow: certified bound)")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="x-small", ncol=2)
    axes.grid(alpha=0.3)
    return _save(figure, path)


def _grouped_bars(
    data: ReportData,
    path: Path,
    groups: Sequence[str],
    value: Callable[[str, str], float | None],
    *,
    title: str,
    ylabel: str,
    log: bool = False,
) -> Path:
    plt = _pyplot()
    count = len(data.candidates)
    figure, axes = plt.subplots(
        figsize=(min(14.0, max(6.5, 0.35 * len(groups) * (count + 1))), 4.6)
    )
    colours = _colours(count)
    width = 0.8 / max(1, count)
    values_seen: list[float] = []
    for index, candidate in enumerate(data.candidates):
        xs, heights = [], []
        for g, group in enumerate(groups):
            found = value(group, candidate)
            if found is not None and math.isfinite(found):
                xs.append(g + (index - (count - 1) / 2) * width)
                heights.append(found)
        values_seen += heights
        axes.bar(xs, heights, width=width, color=colours[index], label=short(candidate))
    axes.set_xticks(range(len(groups)))
    axes.set_xticklabels(groups, rotation=30, ha="right")
    if log:
        axes.set_yscale("log")
    elif values_seen:
        low = min(values_seen)
        axes.set_ylim(max(0.0, low - (1.0 - low) * 0.5 - 0.005), 1.0 + 0.002)
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    axes.legend(fontsize="small")
    axes.grid(axis="y", alpha=0.3)
    return _save(figure, path)


def balancedness_plot(data: ReportData, path: Path) -> Path | None:
    groups = [
        family
        for family in [*data.families, ALL]
        if any(
            (cell := data.cell(family, c)) is not None and cell.balancedness is not None
            for c in data.candidates
        )
    ]
    if not groups:
        return None

    def value(family: str, candidate: str) -> float | None:
        cell = data.cell(family, candidate)
        return None if cell is None else cell.balancedness

    return _grouped_bars(
        data,
        path,
        groups,
        value,
        title="Balancedness (sum of mean / sum of max GPU load over layers)",
        ylabel="balancedness (1 is perfect)",
    )


def runtime_plot(data: ReportData, path: Path) -> Path:
    def value(family: str, candidate: str) -> float | None:
        cell = data.cell(family, candidate)
        if cell is None or cell.seconds_median is None:
            return None
        return 1e3 * cell.seconds_median

    return _grouped_bars(
        data,
        path,
        [*data.families, ALL],
        value,
        title="Median run time per record (measured inside the sandbox worker)",
        ylabel="milliseconds",
        log=True,
    )


def generalisation_plot(data: ReportData, path: Path) -> Path | None:
    if not data.generalisation:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.5, 4.2))
    names = [short(item.candidate) for item in data.generalisation]
    xs = range(len(names))
    axes.bar(
        [x - 0.2 for x in xs],
        [g.fresh_balancedness for g in data.generalisation],
        0.4,
        label="fresh plan (made on the window itself)",
    )
    axes.bar(
        [x + 0.2 for x in xs],
        [g.stale_balancedness for g in data.generalisation],
        0.4,
        label="stale plan (made on the previous window)",
    )
    values = [g.stale_balancedness for g in data.generalisation]
    axes.set_ylim(max(0.0, min(values) - 0.05), 1.0)
    axes.set_xticks(list(xs))
    axes.set_xticklabels(names)
    axes.set_ylabel("balancedness")
    axes.set_title("Generalisation over time on drift traces")
    axes.legend(fontsize="small")
    axes.grid(axis="y", alpha=0.3)
    return _save(figure, path)


def _ratio(ideal: Fraction, load: Fraction | None) -> float | None:
    return None if load is None else balance_ratio(ideal, load)


def _front_lines(axes: Any, cases: Sequence[MigrationCase]) -> None:
    """Each case's exact front in grey, or the OPT brackets at the points' moves."""
    label: str | None = "exact front (one line per case)"
    for case in cases:
        if case.exact:
            line = [(p.budget, r) for p in case.front if (r := _ratio(case.ideal, p.objective))]
            if line:
                xs, ys = zip(*line, strict=True)
                axes.plot(xs, ys, color="grey", alpha=0.35, linewidth=1, label=label)
                label = None
            continue
        for point in case.points:
            top, bottom = _ratio(case.ideal, point.opt_low), _ratio(case.ideal, point.opt_high)
            axes.vlines(point.moves, bottom, top, color="grey", alpha=0.5,
                        label="OPT(moves), certified bracket" if label else None)  # fmt: skip
            label = None


def migration_plot(data: ReportData, path: Path) -> Path | None:
    run = data.migration
    if run is None or not run.cases:
        return None
    groups = grouped_cases(run)
    candidates = candidates_of(run)
    colours = _colours(len(candidates))
    plt = _pyplot()
    columns = min(2, len(groups))
    rows = math.ceil(len(groups) / columns)
    figure, panels = plt.subplots(rows, columns, figsize=(5.5 * columns, 4.2 * rows), squeeze=False)
    for axes in panels.flat[len(groups) :]:
        axes.set_visible(False)
    for axes, (group, cases) in zip(panels.flat, groups.items(), strict=False):
        _front_lines(axes, cases)
        for index, candidate in enumerate(candidates):
            shift = 0.12 * (index - (len(candidates) - 1) / 2)  # side by side at equal moves
            found = [
                (p.moves + shift, balance_ratio(case.ideal, p.load), p.with_old)
                for case in cases
                for p in case.points
                if p.candidate == candidate
            ]
            if found:
                xs, ys, olds = zip(*found, strict=True)
                name = short(candidate).rsplit("/", 1)[-1] + (
                    " (old placement)" if all(olds) else ""
                )
                axes.scatter(xs, ys, s=16, color=colours[index], label=name)
        axes.set_xlabel("moves (replica copies from the old placement)")
        axes.set_ylabel("balancedness (mean / max GPU load)")
        axes.set_title(group, fontsize="medium")
        axes.grid(alpha=0.3)
        if axes is panels.flat[0]:
            axes.legend(fontsize="x-small")
    figure.suptitle("Balance against moves: candidates' points and the exact front")
    return _save(figure, path)


def make_plots(data: ReportData, out: Path) -> dict[str, Path]:
    """Write every plot that has data; returns {name: path}."""
    plots: dict[str, Path | None] = {
        "gap_by_family": gap_by_family(data, out / "gap_by_family.png"),
        "gap_vs_size": gap_vs_size(data, out / "gap_vs_size.png"),
        "balancedness": balancedness_plot(data, out / "balancedness.png"),
        "runtime": runtime_plot(data, out / "runtime.png"),
        "generalisation": generalisation_plot(data, out / "generalisation.png"),
        "migration": migration_plot(data, out / "migration.png"),
    }
    return {name: path for name, path in plots.items() if path is not None}
