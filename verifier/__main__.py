"""`python -m verifier` is the same as the `eplb-verify` command."""

from verifier.cli.dispatch import main

raise SystemExit(main())
