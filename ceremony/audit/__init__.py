"""``ceremony audit``: any TUF repository's keys bound to verified YubiKey attestations.

:mod:`ceremony.audit.model` is the pure part (the walk and the findings, from bytes);
:mod:`ceremony.audit.folder` reads a metadata folder and an attestation folder; the CLI
(:mod:`ceremony.cli.audit`) parses and prints.
"""

from __future__ import annotations

from ceremony.errors import EXIT_FINDINGS, EXIT_VERIFY

__all__ = ["EXIT_FINDINGS", "EXIT_VERIFY"]
