"""The report as Markdown: readable in a terminal and as a CI job summary."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from verifier.report.conclusions import (
    balance_sentence,
    family_winners,
    generalisation_sentences,
    migration_sentences,
    problem_sentences,
    short,
    verdict,
)
from verifier.report.metrics import ReportData
from verifier.report.tables import Table, all_tables

PLOT_CAPTIONS = {
    "gap_by_family": "Gap distribution per family and candidate",
    "gap_vs_size": "Gap vs instance size",
    "balancedness": "Balancedness per family",
    "runtime": "Run time per family",
    "generalisation": "Generalisation over time",
    "migration": "Balance against moves",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(table: Table) -> str:
    lines = [
        "| " + " | ".join(table.headers) + " |",
        "|" + "|".join("---" for _ in table.headers) + "|",
    ]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in table.rows]
    return "\n".join(lines)


def conclusions(data: ReportData) -> dict[str, list[str]]:
    """Every generated conclusion, by topic (also what the HTML and JSON show)."""
    topics = {
        "Which heuristic wins where": family_winners(data),
        "Does each variant earn its cost": [verdict(c).sentence for c in data.comparisons],
        "Balance and time": [s for s in (balance_sentence(data),) if s],
        "Generalisation over time": generalisation_sentences(data),
        "Balance against moves": migration_sentences(data),
        "Problems found": problem_sentences(data),
    }
    return {topic: sentences for topic, sentences in topics.items() if sentences}


def summary_line(data: ReportData) -> str:
    records = len({result.entry for result in data.results})
    names = ", ".join(short(candidate) for candidate in data.candidates)
    broken = f" ({len(data.broken_records)} broken records skipped)" if data.broken_records else ""
    return (
        f"{records} records in {len(data.families)} families of corpus `{data.corpus}`{broken}; "
        f"candidates: {names}."
    )


def render_markdown(data: ReportData, plots: Mapping[str, Path]) -> str:
    parts = ["# EPLB optimality-gap report", "", summary_line(data), ""]
    for topic, sentences in conclusions(data).items():
        parts += [f"## {topic}", ""]
        parts += [f"- {sentence}" for sentence in sentences]
        parts.append("")
    for table in all_tables(data):
        parts += [f"## {table.title}", "", table.intro, "", markdown_table(table), ""]
    if data.broken_records:
        parts += ["## Broken records", ""]
        parts += [f"- {message}" for message in data.broken_records]
        parts.append("")
    if plots:
        parts += ["## Plots", ""]
        for name, path in plots.items():
            parts += [f"![{PLOT_CAPTIONS.get(name, name)}]({path.name})", ""]
    return "\n".join(parts)
