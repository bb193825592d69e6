"""Layer 4, judging one call: invariants, the judged case, quality observations, relations,
differentials, the replan checks (layers, incremental) and the evaluator of a case."""
