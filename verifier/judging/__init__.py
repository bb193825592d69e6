"""Layer 4, judging one call: invariants, relations, quality observations, the evaluator of a
case."""
