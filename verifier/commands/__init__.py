"""Subcommands of `eplb-verify`, one module each (`add_arguments`, `run`)."""
