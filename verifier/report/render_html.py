"""The report as one self-contained HTML page (plots embedded as base64 PNGs, no external files)."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from pathlib import Path

from verifier.report.metrics import ReportData
from verifier.report.render_markdown import PLOT_CAPTIONS, conclusions, summary_line
from verifier.report.tables import Table, all_tables

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f0f0f0; }
td:first-child, td:nth-child(2) { text-align: left; }
figure { margin: 1.5em 0; }
img { max-width: 100%; }
p.intro { color: #555; max-width: 60em; }
"""


def html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(value)}</td>" for value in row) + "</tr>"
        for row in table.rows
    )
    return (
        f"<h2>{html.escape(table.title)}</h2>\n<p class='intro'>{html.escape(table.intro)}</p>\n"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def embedded_image(path: Path, caption: str) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{encoded}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def render_html(data: ReportData, plots: Mapping[str, Path]) -> str:
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<title>EPLB optimality-gap report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>EPLB optimality-gap report</h1>",
        f"<p>{html.escape(summary_line(data))}</p>",
    ]
    for topic, sentences in conclusions(data).items():
        items = "".join(f"<li>{html.escape(sentence)}</li>" for sentence in sentences)
        parts.append(f"<h2>{html.escape(topic)}</h2><ul>{items}</ul>")
    parts += [html_table(table) for table in all_tables(data)]
    if data.broken_records:
        items = "".join(f"<li>{html.escape(message)}</li>" for message in data.broken_records)
        parts.append(f"<h2>Broken records</h2><ul>{items}</ul>")
    if plots:
        parts.append("<h2>Plots</h2>")
        parts += [
            embedded_image(path, PLOT_CAPTIONS.get(name, name)) for name, path in plots.items()
        ]
    parts.append("</body></html>")
    return "\n".join(parts)
