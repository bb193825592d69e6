"""Layer 2, calling untrusted code: candidate specs, the sandbox, API profiles, the `Caller`
seam."""
