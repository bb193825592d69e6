"""eplb-verify: differential verification, exact optima and fuzzing for EPLB heuristics.

The public API is deliberately small; everything else lives in private-by-convention modules
(one concept each) that the CLI, the tests and the reports share.
"""

__version__ = "0.1.0"
