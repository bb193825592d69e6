"""Every error the harness raises on purpose, under one base class.

`EplbVerifyError` lets a caller catch "bad input or a bad candidate" in one place; each subclass
names what was wrong. Instance and record errors are also `ValueError`s (malformed values).
The subclasses that belong to one module live there: `TraceError` (`verifier.model.traces`, also
a `ValueError`), `DistributeError` (`verifier.oracle.distribute`), `DatabaseError`
(`verifier.runs.database`) and `ScoreInputError` (`verifier.runs.score`, also a `ValueError`).
The command line (`verifier.cli.dispatch`) turns any of them into exit 2 with one line.
"""

from __future__ import annotations


class EplbVerifyError(Exception):
    """The base of every error eplb-verify raises for bad input or a bad candidate."""


class CandidateError(EplbVerifyError):
    """A candidate spec that cannot be resolved: no such module, a broken file, no EPLB function."""


class InstanceError(EplbVerifyError, ValueError):
    """An instance (dict or file) that is malformed, incomplete or of an impossible shape."""


class RecordError(EplbVerifyError, ValueError):
    """A corpus record that is malformed; the message names the field (and the file, if known)."""
