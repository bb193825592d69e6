"""Layer 6, runs over many cases: the engine, check, fuzz, bench, score, trace and corpus runs."""
