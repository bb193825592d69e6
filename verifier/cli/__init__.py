"""Layer 8, the `eplb-verify` command line: the dispatcher, exit codes, one module per
subcommand."""
