"""The exit codes of every `eplb-verify` command (README, "Exit codes")."""

EXIT_OK = 0  # no violation, no regression
EXIT_FINDINGS = 1  # violations found (or, for `score`, an invalid candidate)
EXIT_USAGE = 2  # usage error, bad input, a candidate or file that cannot be loaded
EXIT_INTERRUPTED = 130  # Ctrl-C: what was found so far is still printed and saved
