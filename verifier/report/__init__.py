"""The optimality-gap report: run candidates over a corpus, aggregate, render, write.

    results = run_corpus(specs, entries)                 # runs.py: sandboxed calls, exact scores
    data = build_report_data(specs, results, ...)        # metrics.py: every number
    files = write_report(data, out_dir)                  # write.py: md, html, json, png

Conclusions (conclusions.py) are derived from the numbers; tables.py feeds both renderers.
"""
