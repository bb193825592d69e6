"""The README's setup and test commands: CI runs exactly the test command, and neither installs
into the system Python (which PEP 668 forbids on stock Debian/Ubuntu)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.*?)\n```", readme, flags=re.DOTALL)


def test_ci_runs_the_readme_test_command() -> None:
    (test_command,) = [block for block in _readme_commands() if "tox -e py,lint,type" in block]
    ci_script = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    commands = [line for line in ci_script if line.strip() and not line.startswith(("#", "set "))]
    assert test_command in commands, f".ci/run does not run the README's {test_command!r}"


def test_setup_and_test_commands_install_into_a_virtual_environment() -> None:
    setup, test = _readme_commands()[:2]
    for command in (setup, test):
        assert command.startswith("python3 -m venv .venv && ")
        assert "python3 -m pip install" not in command
