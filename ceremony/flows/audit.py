"""The auditor: record verify, record report and the published chain, read-only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ceremony import chain
from ceremony.errors import CeremonyError, VerificationError
from ceremony.workspace import Workspace


@dataclass(frozen=True)
class Audit:
    """What an auditor sees: the record check, the report written, the chain walked."""

    ok: bool
    record: list[str]  # "ok   ..." / "FAIL ..." lines, as ``ceremony record verify``
    problems: list[str]
    report: Path | None
    report_error: str | None
    chain: list[str]  # as ``ceremony verify`` / ``ceremony notary verify``
    chain_ok: bool | None  # None: nothing published to walk


def audit(root: Path, require_seal: bool = True) -> Audit:
    """``ceremony record verify``, ``ceremony record report`` and a walk of ``metadata/``.

    Never raises for a failed check: every problem is in the result. Only the report
    (record/transcript.* and record/report.html) is written, and only from an intact journal.
    """
    from ceremony import record_check, record_write  # lazy: the record and the seal (audit only)
    root = Path(root)
    v = record_check.check_record(root, require_seal=require_seal)
    report, report_error = None, None
    if v.journal_broken:
        report_error = "not written: the journal is broken"
    else:
        try:
            report = record_write.write_record(Workspace(root))[-1]
        except CeremonyError as e:
            report_error = e.message
    chain_lines, chain_ok = audit_chain(Workspace(root).metadata)
    return Audit(v.ok and chain_ok is not False, v.lines(), list(v.problems), report,
                 report_error, chain_lines, chain_ok)


def audit_chain(metadata: Path) -> tuple[list[str], bool | None]:
    """Walk ``metadata/`` from its 1.root.json as a client would (TUF, or notary), with the
    root keys' attestations (``chain.verify_published``). (lines, ok); ok is None when nothing
    is published."""
    if not (Path(metadata).is_dir() and chain.root_versions(Path(metadata))):
        return ["nothing published yet: no chain to walk"], None
    try:
        # a continuing workspace published only its new versions: the chain it continued
        # is in previous/ beside metadata/, and the walk starts at its oldest root
        files = chain.previous_root_files(Path(metadata))
        first = files[min(files)]
        published = chain.verify_published(first, Path(metadata), trusted_name=str(first),
                                           files=files)
        report, attested = published.report, published.attested
        lines = [f"notary collection {published.gun}: trusted root v{report.trusted_version}"
                 if published.gun else
                 f"trusted root v{report.trusted_version} ({first.parent.name}/{first.name})"]
        lines += chain.report_lines(report, attested, published.trust)
        failed = [a for a in attested if not a.ok]
        if failed:
            lines.append(f"FAIL {len(failed)} root key attestation(s) do not verify")
        return lines, not failed
    except CeremonyError as e:
        return [f"FAIL {e.message}"], False


def require_verified(published: chain.PublishedChain) -> None:
    """The verdict of ``ceremony verify`` once its lines are shown: a root key whose YubiKey
    attestation fails, or an expired newest root, fails the command (exit 3, or 10 expired).

    Raises:
        VerificationError: a root key's attestation does not verify.
        RootExpiredError: every version verified but the newest root has expired.
    """
    failed = [a for a in published.attested if not a.ok]
    if failed:
        raise VerificationError(
            "the attestation of " + ", ".join(f"{a.name}'s root key" for a in failed)
            + f" does not verify: {failed[0].problems[0]}",
            hint="the key may not have been generated on the YubiKey its metadata names")
    if published.expired:
        raise chain.expired_error(published.report)
