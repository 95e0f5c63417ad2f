"""What crosses the air gap, and how it is checked on arrival: meaning on top of transports.

Transports (``ceremony.transport``) carry verified bytes. This module decides
what a workspace sends (signed metadata after publish, else the travelling
draft), and what an arriving bundle must prove before its files are used:

* ``signed-metadata`` / ``trusted-metadata``: the root chain verifies, from the
  receiver's own newest trusted root when ``--out`` already holds one (and
  ``root.json`` there moves forward), else from the bundle's oldest root (trust on
  first use: its fingerprint words are shown, ``--expect-root`` pins them); root versions
  older than the receiver's trusted one must lead to it, and every other file is verified by
  its format (``check_bundle_extra``: TUF's roles and target files, notary's sidecar) or refused;
* ``online-keys``: every file is a public key (never a private one);
* ``draft``: the draft matches its digest; ``signature``: well-formed signature files.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ceremony import integrity
from ceremony.detached import check_signature_fields, export_draft, import_signature, load_draft
from ceremony.errors import PlanError, StateError, UsageError, VerificationError
from ceremony.events import Published, parse
from ceremony.formats.registry import detect, online_key_note
from ceremony.frozen import frozen
from ceremony.inputs import load_json, read_input_file
from ceremony.session import Session
from ceremony.steps import transfer as steps_transfer
from ceremony.transport import Bundle, write_files
from ceremony.transport.bundle import MAX_FILE_BYTES
from ceremony.trusted_start import check_expected, root_fingerprint, trusted_root_lines


@frozen  # never reassigned (cheaper to define than @dataclass)
class Arrival:
    """A bundle that passed every check, and what the checks said."""

    bundle: Bundle
    notes: list[str]
    newest_root: bytes | None = None  # root metadata bundles: the verified newest root


def workspace_bundle(c: Session) -> Bundle:
    """The bundle a workspace sends out: its signed metadata once published, else its draft.

    Raises:
        StateError: nothing drafted yet.
    """
    st = c.state
    if st.sealed:  # before a byte is written: an export the journal cannot record is not made
        raise StateError(
            "the ceremony is sealed: an export now could not be journaled, so none is made",
            hint="the exports made before the seal are listed in the record; to carry the "
                 "published metadata again, `ceremony pack METADATA/N.root.json ... --kind "
                 "trusted-metadata` makes an unjournaled bundle the other side verifies alike")
    repo, cid = c.plan.repository, st.init["ceremony_id"]
    if st.draft is not None:
        integrity.check_draft(c)  # the journal's draft is what the plan and key files give
    if st.published and (own := c.format.export_files()) is not None:  # x509's CA folder
        return Bundle.from_files("signed-metadata", repo, cid, own, journal_head=st.head)
    if st.published:
        files: dict[str, bytes] = {}
        for p in sorted(c.ws.previous.glob("*.root.json")) if c.ws.previous.is_dir() else []:
            files[p.name] = _read(p, c.ws.root)
        for v in st.published:
            name = f"{v}.root.json"
            files[name] = _read(c.ws.metadata / name, c.ws.root)
        files["root.json"] = _read(c.ws.metadata / "root.json", c.ws.root)
        for rel in _published_roles(c):  # targets and delegated roles published with root
            files[Path(rel).name] = _read(c.ws.root / rel, c.ws.root)
        sidecar = c.ws.metadata / "ceremony-keys.json"
        newest = _newest_published(c)
        if sidecar.is_file() or (newest is not None and sidecar.name in newest.files):
            files[sidecar.name] = _read(sidecar, c.ws.root)  # one the publish wrote must travel
        integrity.check_export(c, files)  # every byte shipped is what the journal recorded
        files.update(_published_targets(c))  # the target files the roles list, as journaled
        return Bundle.from_files("signed-metadata", repo, cid, files, journal_head=st.head)
    if st.draft is None:
        raise StateError("there is nothing to export yet: no draft and nothing published")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{st.draft['version']}.root.draft.json"
        export_draft(c, path)
        data = path.read_bytes()
    return Bundle.from_files("draft", repo, cid, {path.name: data}, journal_head=st.head)


def _newest_published(c: Session) -> Published | None:
    """The newest ``published`` event of the journal, if any."""
    pubs = [p for e in c.journal.events if isinstance(p := parse(e), Published)]
    return pubs[-1] if pubs else None


def _published_roles(c: Session) -> list[str]:
    """The role metadata files (``metadata/N.ROLE.json``) the newest ``published`` event
    lists beside root (the target files travel too: :func:`_published_targets`)."""
    newest = _newest_published(c)
    roles = {r for r in (newest.roles or {}) if r.startswith("metadata/")} if newest else set()
    # tuf-on-ci's layout keeps ROLE.json beside N.ROLE.json (the same bytes): the versioned one travels
    versioned = {r.split(".", 1)[1] for r in roles if r.removeprefix("metadata/").split(".", 1)[0].isdigit()}
    return sorted(r for r in roles if r.removeprefix("metadata/") not in versioned)


def _published_targets(c: Session) -> dict[str, bytes]:
    """The target files (``targets/...``) the newest ``published`` event lists, by the name
    they travel under (:func:`ceremony.formats.tuf_roles.bundle_target_name`), each read
    bounded and checked against the digest the journal recorded.

    Raises:
        VerificationError: a target file is missing, changed since publish, or has a path a
            bundle cannot name (nothing was exported).
    """
    from ceremony.formats import tuf_roles  # lazy: python-tuf's metadata API, only a workspace with targets
    newest = _newest_published(c)
    out: dict[str, bytes] = {}
    for rel, digest in sorted((newest.roles or {}).items()) if newest else []:
        if not rel.startswith("targets/"):
            continue
        path = c.ws.root / rel
        if not path.is_file():
            raise VerificationError(f"{rel} is missing (the journal recorded it); nothing was "
                                    "exported", hint="restore it from a copy")
        data = read_input_file(path, MAX_FILE_BYTES, error=VerificationError,
                               too_large="larger than any file a bundle carries")
        if hashlib.sha256(data).hexdigest() != digest:
            raise VerificationError(f"{rel} differs from what was published (journal: sha256 "
                                    f"{digest[:16]}...); nothing was exported",
                                    hint="restore it from a copy; `ceremony record verify` "
                                         "names every difference")
        out[tuf_roles.bundle_target_name(tuf_roles.target_path_of(rel.removeprefix("targets/"),
                                                                  digest))] = data
    return out


def _read(path: Path, root: Path) -> bytes:
    """A workspace file about to be exported (bounded like any root file).

    Raises:
        VerificationError: missing, unreadable or oversize (nothing was exported).
    """
    from ceremony import chain  # lazy: ~8M instructions, for root chains only
    if not path.is_file():
        raise VerificationError(f"{path.relative_to(root)} is missing (the journal recorded it); "
                                "nothing was exported", hint="restore it from a copy")
    try:
        return chain.read_root_file(path)
    except VerificationError as e:
        raise VerificationError(f"{e.message}; nothing was exported", e.hint) from None


def record_export(c: Session, bundle: Bundle, how: str, where: Path) -> None:
    """Journal an export (bundle digest and files) so the record shows what left the room."""
    steps_transfer.exported(c, bundle.manifest.kind, how, str(where), bundle.digest,
                            {f.name: f.sha256 for f in bundle.manifest.files})


def check_arrival(bundle: Bundle, out: Path | None, expect_root: str | None = None) -> Arrival:
    """Verify a bundle's content for its kind before anything is written.

    ``expect_root`` pins the fingerprint of the root a metadata bundle is trusted from.

    Raises:
        VerificationError: the content does not verify.
    """
    kind = bundle.manifest.kind
    files = bundle.files
    notes: list[str] = []
    newest = None
    if kind in ("signed-metadata", "trusted-metadata"):
        # a format whose published folder is no root chain checks it itself (x509's CA folder)
        from ceremony.formats.tuf_roles import TARGET_IN_BUNDLE  # lazy: python-tuf, metadata bundles only
        own = next((r for k in map(detect, (d for n, d in files.items() if not n.startswith(TARGET_IN_BUNDLE)))
                    if (r := k.check_bundle(files, expect_root)) is not None), None)  # a target file names no format
        more, newest = own if own is not None else _check_metadata(files, out, expect_root)
        notes += more
    elif expect_root:
        raise UsageError(f"--expect-root applies to root metadata; this is a {kind} bundle")
    elif kind == "online-keys":
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in files.items():
                p = Path(tmp) / name
                p.write_bytes(data)
                try:  # the format whose key file it is checks it (registry.online_key_note)
                    notes.append(online_key_note(p, name, data))
                except PlanError as e:
                    raise VerificationError(e.message.replace(str(Path(tmp)) + "/", ""),
                                            e.hint) from None
    elif kind == "draft":
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in files.items():
                (Path(tmp) / name).write_bytes(data)
                try:
                    d = load_draft(Path(tmp) / name)
                except VerificationError as e:  # named as the bundle names it, not by a temporary path
                    raise VerificationError(e.message.replace(str(Path(tmp)) + "/", ""),
                                            e.hint) from None
                notes.append(f"{name}: draft of root v{d.draft.signed.version}, digest {d.digest[:16]}...")
    elif kind == "signature":
        for name, data in files.items():
            try:
                obj = load_json(data, f"{name} in the bundle")
                ok = isinstance(obj, dict) and obj.get("kind") == "ceremony-signature"
            except VerificationError:
                ok = False
            if not ok:
                raise VerificationError(f"{name} in the bundle is not a ceremony signature file")
            check_signature_fields(obj, f"{name} in the bundle")
            notes.append(f"{name}: {obj['keyholder']}'s signature over digest {str(obj['digest'])[:16]}...")
    return Arrival(bundle, notes, newest)


def _check_metadata(files: Mapping[str, bytes], out: Path | None,
                    expect_root: str | None = None) -> tuple[list[str], bytes]:
    """Walk the bundle's root chain from the receiver's newest trusted root in ``out``, else
    from the bundle's oldest root (trust on first use: its fingerprint is shown, and
    ``expect_root`` pins it). Returns the notes and the newest root's bytes."""
    from ceremony import chain  # lazy: ~8M instructions, for root chains only
    roots = {n: d for n, d in files.items() if chain.is_root_file(n)}
    if not roots:
        raise VerificationError("the bundle holds no N.root.json file")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name, data in roots.items():
            (d / name).write_bytes(data)
        have = chain.root_versions(out) if out is not None and out.is_dir() else {}
        first_use = None
        if have:
            newest = max(have)
            trusted = chain.read_root_file(have[newest])
            for p in have.values():  # what we already trust travels with the check
                if not (d / p.name).exists():
                    (d / p.name).write_bytes(p.read_bytes())
            origin = f"the trusted root v{newest} already in {out}"
            name = have[newest].name
            if name in roots and roots[name] != trusted:
                raise VerificationError(f"the bundle's {name} differs from the trusted one in {out}")
            for p in have.values():  # every version the receiver holds is the bundle's too
                if p.name in roots and roots[p.name] != chain.read_root_file(p):
                    raise VerificationError(f"the bundle's {p.name} differs from the one in {out}: "
                                            "one of them was changed; nothing was written")
        else:
            first_use = min(chain.root_versions(d))
            trusted = roots[f"{first_use}.root.json"]
            origin = (f"the bundle's own {first_use}.root.json (trust on first use: compare its "
                      "fingerprint)")
        fingerprint = root_fingerprint(trusted)
        check_expected(fingerprint, expect_root, origin.split(" (")[0])
        klass = detect(trusted)
        report = klass.walk_chain(trusted, d, check_expiry=False, trusted_name=origin)
        if have:
            _check_older_roots(klass, roots, have, trusted, out)
        if "root.json" in files and files["root.json"] != report.newest_bytes:
            raise VerificationError("the bundle's root.json is not its newest N.root.json")
    notes = [f"root chain verified from {origin} up to v{report.newest_version}"]
    # the other roles a format publishes beside root (TUF's targets, delegations), verified
    notes += klass.check_bundle_extra(files, report.newest_bytes)
    if first_use is not None or expect_root:
        notes += trusted_root_lines(report.trusted_version, fingerprint, expect_root,
                                    first_use is None)
    return notes, report.newest_bytes


def _check_older_roots(klass: Any, roots: Mapping[str, bytes], have: Mapping[int, Path],
                       trusted: bytes, out: Path | None) -> None:
    """Root versions in the bundle older than the receiver's newest trusted one, which the
    receiver does not hold: the walk from its trusted root never reads them, so they must lead
    to it. From the oldest of them, each version signed at both thresholds up to the trusted
    root byte for byte (the receiver's copies fill the versions the bundle lacks). This is all
    a receiver can know of history older than its trust: they claim to be this chain's past.

    Raises:
        VerificationError: they do not lead to the trusted root (nothing was written).
    """
    from ceremony import chain  # lazy: ~8M instructions, for root chains only
    newest = max(have)
    older = sorted(v for n in roots if (v := int(n.split(".", 1)[0])) < newest and v not in have)
    if not older:
        return
    first = f"{older[0]}.root.json"
    with tempfile.TemporaryDirectory() as tmp:
        for v in range(older[0], newest + 1):
            name = f"{v}.root.json"
            data = roots.get(name) or (chain.read_root_file(have[v]) if v in have else None)
            if data is not None:
                (Path(tmp) / name).write_bytes(data)
        try:
            report = klass.walk_chain(roots[first], Path(tmp), check_expiry=False,
                                      trusted_name=f"the bundle's {first}")
        except VerificationError as e:
            report, why = None, e.message
        if report is None or report.newest_bytes != trusted:
            why = why if report is None else f"it leads to v{report.newest_version}, another root"
            raise VerificationError(f"the bundle's {first} is older than the trusted root v{newest} "
                                    f"in {out}, which does not hold it, and does not lead to that "
                                    f"root: {why}; nothing was written")


def import_to_dir(bundle: Bundle, out: Path,
                  expect_root: str | None = None) -> tuple[Arrival, list[Path]]:
    """Check a bundle's content, then write its files into ``out`` under their own names.

    Root metadata arriving in a folder that already trusts a root moves ``root.json`` (and
    a notary ``ceremony-keys.json``) forward to the newest version once the new chain has
    verified from that root: the files a client fetches first follow the chain; numbered
    versions are never replaced.
    """
    from ceremony import chain  # lazy: ~8M instructions, for root chains only
    trusts_a_chain = out.is_dir() and bool(chain.root_versions(out))
    arrival = check_arrival(bundle, out, expect_root)
    replace: dict[str, bytes] = {}
    newest = arrival.newest_root
    if newest is not None and trusts_a_chain and (out / "root.json").exists():
        replace["root.json"] = newest
        sidecar = "ceremony-keys.json"
        if sidecar in bundle.files:
            replace[sidecar] = bundle.files[sidecar]
    written = write_files(bundle, out, replace=replace)
    for name in replace:
        if out / name not in written:
            written.append(out / name)
    return arrival, written


def import_to_workspace(c: Session, bundle: Bundle) -> Arrival:
    """Take a bundle into a workspace: signatures are imported; other kinds go to a folder.

    Raises:
        VerificationError: not for this workspace, or the content does not verify.
    """
    kind = bundle.manifest.kind
    if bundle.manifest.repository != c.plan.repository:
        raise VerificationError(f"the bundle is for repository {bundle.manifest.repository!r}, "
                                f"not {c.plan.repository!r}")
    if kind != "signature":
        raise VerificationError(f"a {kind} bundle is not taken into a workspace; import it with "
                                "--out DIR and name the folder in the plan or with --previous")
    arrival = check_arrival(bundle, None)
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in bundle.files.items():
            p = Path(tmp) / name
            p.write_bytes(data)
            added = import_signature(c, p)
            arrival.notes.append(f"{name}: {len(added)} signature(s) added")
    steps_transfer.imported(c, kind, bundle.digest, {f.name: f.sha256 for f in bundle.manifest.files})
    return arrival
