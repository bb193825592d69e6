"""Terminal views of check and fuzz runs: their live progress lines and final summaries (rich)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from verifier.judging.evaluator import SHRUNK_OBSERVATIONS
from verifier.model.instances import instance_json
from verifier.runs.check import CheckProgress, EngineOptions, EngineResult, FindingRecord

TRACEBACK_LINES = 12
LOG_EVERY = 30.0  # seconds between fuzz progress lines when stderr is not a terminal


class LiveProgress:
    """A one-line live status on a (stderr) console: phase, function, cases, findings, time."""

    def __init__(self, console: Console, candidate: str, options: EngineOptions) -> None:
        self.console = console
        self.candidate = candidate
        self.options = options
        self._live = Live(self._line(None), console=console, refresh_per_second=8, transient=True)
        self._last = 0.0

    def _line(self, progress: CheckProgress | None) -> Text:
        if progress is None:
            return Text(f"checking {self.candidate}: loading the candidate ...")
        return Text(
            f"checking {self.candidate}: {progress.phase}, {progress.function}: "
            f"{progress.cases} cases, {progress.violations} violations, "
            f"{progress.observations} observations, "
            f"{progress.elapsed:.1f} s of ~{self.options.budget:g} s"
        )

    def update(self, progress: CheckProgress) -> None:
        now = time.monotonic()
        if now - self._last >= 0.1:
            self._last = now
            self._live.update(self._line(progress))

    def __enter__(self) -> LiveProgress:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._live.__exit__(*exc)


def _summary_table(result: EngineResult) -> Table:
    table = Table(title=f"eplb-verify check {escape(result.candidate)}", title_justify="left")
    for column in ("function", "edge cases", "generated", "violations", "observations"):
        table.add_column(column, justify="left" if column == "function" else "right")
    for function in result.functions:
        counts = result.cases.get(function)
        violations = sum(1 for r in result.violations if r.finding.function == function)
        observations = sum(1 for r in result.observations if r.finding.function == function)
        table.add_row(
            function,
            str(counts.edge if counts else 0),
            str(counts.generated if counts else 0),
            Text(str(violations), style="bold red" if violations else "green"),
            Text(str(observations), style="yellow" if observations else ""),
        )
    return table


def _findings_table(result: EngineResult) -> Table:
    table = Table(title="findings", title_justify="left")
    for column in ("severity", "function", "check", "cases"):
        table.add_column(column, no_wrap=True)
    table.add_column("smallest example", overflow="fold", ratio=1)
    records = result.violations + result.observations
    for record in records:
        finding = record.finding
        cases = result.cases.get(finding.function)
        share = f" ({record.occurrences / cases.total:.0%})" if cases and cases.total else ""
        table.add_row(
            Text(finding.severity, style="bold red" if finding.is_violation else "yellow"),
            finding.function,
            finding.check,
            f"{record.occurrences}{share}",
            Text(finding.message),
        )
    return table


def _reproducer(console: Console, record: FindingRecord) -> None:
    finding = record.finding
    context = {key: finding.details[key] for key in ("dtype", "device") if key in finding.details}
    how = ", ".join(f"{key} {value}" for key, value in context.items())
    console.print(
        Text(f"{finding.severity} {finding.check} in {finding.function}", style="bold"),
        Text(f"({how})" if how else ""),
    )
    console.print(Text(f"  {finding.message}"))
    trace = finding.details.get("traceback") or finding.details.get("stderr_tail")
    if trace:
        lines = str(trace).rstrip().splitlines()[-TRACEBACK_LINES:]
        console.print(Text("\n".join(f"    {line}" for line in lines), style="dim"))
    if "reproduce" in finding.details:  # sequence mode: the command replays the sequence
        console.print(Text(f"  reproducer: {finding.details['reproduce']}"))
    elif finding.instance is not None:
        console.print(Text("  reproducer (an instance file):"))
        console.out(instance_json(finding.instance), highlight=False)


def render_result(console: Console, result: EngineResult) -> None:
    """The summary table, findings, reproducers, notes and the verdict."""
    console.print(_summary_table(result))
    if result.records:
        console.print(_findings_table(result))
    shown = result.violations + (result.observations if result.options.strict else [])
    behind = [r for r in result.observations if r.finding.check in SHRUNK_OBSERVATIONS]
    for record in shown + [r for r in behind if r not in shown]:
        console.print()
        _reproducer(console, record)
    for note in result.notes:
        console.print(Text(f"note: {note}", style="yellow"))
    for line in result.context_lines():  # profile, adaptations, migration, baseline, sequence
        console.print(Text(line))
    devices = result.devices  # real CUDA, the default-device probe, or CPU only
    console.print(Text(devices.summary(), style="" if devices.exercised else "yellow"))
    total = result.total_cases
    seconds = f"{result.elapsed:.1f} s"
    if result.exit_code == 0:
        kinds = len(result.observations)
        observed = f", {kinds} kind{'s' if kinds > 1 else ''} of observation" if kinds else ""
        console.print(
            Text(f"PASS: no violation in {total} cases ({seconds}){observed}", style="bold green")
        )
    else:
        failing = len(shown)
        what = "findings" if result.options.strict else "violations"
        console.print(
            Text(f"FAIL: {failing} distinct {what} in {total} cases ({seconds})", style="bold red")
        )


# --- fuzz -------------------------------------------------------------------------------------


class FuzzProgress:
    """A one-line live status: cases, cases per second, violations, worst gap (throttled)."""

    def __init__(self, console: Any, candidate: str, budget: float) -> None:
        self._text = Text
        self.console = console
        self.candidate = candidate
        self.budget = budget
        self._live = Live(Text(f"fuzzing {candidate}"), console=console, transient=True)
        self._last = 0.0

    def update(self, progress: Any) -> None:
        now = time.monotonic()
        if now - self._last < (0.1 if self.console.is_terminal else LOG_EVERY):
            return
        self._last = now
        worst = (
            "n/a"
            if progress.worst_gap is None
            else f"{100 * progress.worst_gap:.3f}% ({progress.worst_function})"
        )
        line = self._text(
            f"fuzz {self.candidate}: {progress.elapsed:5.1f}/{self.budget:g} s  "
            f"cases {progress.cases} ({progress.rate:.1f}/s)  "
            f"violations {progress.violations}  worst gap {worst}"
        )
        if self.console.is_terminal:
            self._live.update(line)
        else:  # a log file (a campaign in the background): a plain line now and then
            self.console.print(line, highlight=False)

    def __enter__(self) -> FuzzProgress:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._live.__exit__(*exc)


def render_worst_gaps(console: Any, result: Any) -> None:
    """Per function the worst gap found, then each worst-gap instance (one layer each)."""
    for function, stats in result.stats.items():
        console.print(
            f"{function}: {stats.cases} cases ({stats.valid} valid), worst gap "
            + (f"{100 * stats.worst[0].gap:.4f}%" if stats.worst else "n/a"),
            highlight=False,
        )
    worst = [case for case in result.worst() if case.gap > 0]
    if not worst:
        console.print("No positive optimality gap found.")
        return
    console.print("\nWorst-gap instances (one layer each):")
    for case in worst:
        kind = "exact, against the proven optimum" if case.exact else "certified, against a bound"
        console.print(
            f"\n{case.function}: gap {100 * case.gap:.4f}% ({kind}; objective {case.objective}, "
            f"reference {case.reference})",
            highlight=False,
        )
        console.print(escape(instance_json(case.instance)), highlight=False)
