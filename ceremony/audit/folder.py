"""The audit's I/O: a metadata folder and an attestation folder read into bytes, bounded.

:mod:`ceremony.audit.model` judges bytes; this module finds them. A metadata folder is laid
out as a TUF repository serves it or as tuf-on-ci keeps it in git: ``N.root.json`` and/or
``root.json`` (and ``root_history/N.root.json``), ``targets.json``, one ``ROLE.json`` per
delegated role (the role name percent-encoded, as ngclient names it), or with consistent
snapshots ``N.ROLE.json`` (the highest N is taken). A folder holding a ``metadata/`` folder
(a tuf-on-ci checkout) is read through it.

An attestation folder is laid out as sigstore's and tuf-on-ci's ceremonies archive them:
one folder per YubiKey, named by its serial, holding ``Slot9CAttestation.pem`` (the slot key's
attestation, ``yubico-piv-tool --action=attest --slot=9c``) and ``SlotF9Intermediate.pem``
(the device's f9 certificate); such folders may sit under a ``keys/`` folder. The older
sigstore layout (``<serial>/<serial>_key_cert.pem`` and ``<serial>_device_cert.pem``) is read
too. Every file is read with a size bound, never blocking on a FIFO or a device.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

from ceremony.audit.model import FolderAttestation, Source
from ceremony.chain import MAX_ROOT_FILE, lookalike_names, read_bounded, read_root_file
from ceremony.errors import VerificationError
from ceremony.inputs import check_json

#: The largest metadata file read (a targets role listing many files is large; no role is this).
MAX_METADATA_FILE = 32 * 1024 * 1024
#: The largest certificate file read (a PEM certificate is ~1 KiB).
MAX_PEM_FILE = 64 * 1024
#: The most YubiKey folders an attestation folder may hold.
MAX_ATTESTATIONS = 1024
SLOT_FILE = "Slot9CAttestation.pem"
DEVICE_FILE = "SlotF9Intermediate.pem"
_ROOT = re.compile(r"^([1-9][0-9]{0,9})\.root\.json$")
_VERSIONED = re.compile(r"^([1-9][0-9]{0,9})\.(.+)\.json$")


def metadata_folder(directory: Path) -> Path:
    """The folder the metadata is in: ``directory``, or its ``metadata/`` (a tuf-on-ci checkout).

    Raises:
        VerificationError: no such folder.
    """
    if not directory.is_dir():
        what = "is not a folder" if directory.exists() else "does not exist"
        raise VerificationError(f"the metadata folder {directory} {what}")
    inner = directory / "metadata"
    if inner.is_dir() and not (directory / "root.json").exists() and not any(
            _ROOT.match(p.name) for p in directory.iterdir()):
        return inner
    return directory


def read_source(directory: Path) -> Source:
    """The repository in ``directory`` as a :class:`Source` (roots read now, roles on demand).

    Raises:
        VerificationError: no such folder, a root file oversize or not strict JSON, or a file
            named like a root version that no client fetches.
    """
    folder = metadata_folder(Path(directory))
    roots: dict[int, tuple[str, bytes]] = {}
    for where in (folder, folder / "root_history"):
        if not where.is_dir():
            continue
        odd = lookalike_names(where)
        if odd:
            raise VerificationError(f"{odd[0]} in {where} is named like a root version but no "
                                    "client fetches it (versions have no leading zero and start at 1)")
        for p in sorted(where.iterdir()):
            m = _ROOT.match(p.name)
            if not m:
                continue
            data = read_root_file(p)
            v = int(m.group(1))
            label = p.name if where == folder else f"root_history/{p.name}"
            if v in roots and roots[v][1] != data:
                raise VerificationError(f"{roots[v][0]} and {label} are two different root v{v}")
            roots.setdefault(v, (label, data))
    root_json = read_root_file(folder / "root.json") if (folder / "root.json").is_file() else None
    if not roots and root_json is None:
        raise VerificationError(f"{folder} holds no root metadata (root.json or N.root.json)",
                                hint="give the repository's metadata folder")
    names = {p.name for p in folder.iterdir()}
    newest: dict[str, tuple[int, str]] = {}
    for n in names:
        m = _VERSIONED.match(n)
        if m and m.group(2) != "root" and int(m.group(1)) > newest.get(m.group(2), (0, ""))[0]:
            newest[m.group(2)] = (int(m.group(1)), n)

    def fetch(role: str) -> tuple[str, bytes] | None:
        stem = quote(role, safe="")
        name = f"{stem}.json" if f"{stem}.json" in names else newest.get(stem, (0, None))[1]
        if name is None:
            return None
        data = read_bounded(folder / name, MAX_METADATA_FILE, "far larger than any TUF metadata")
        return name, check_json(data, name)

    return Source(roots, root_json, fetch)


def _read_pem(path: Path) -> bytes:
    return read_bounded(path, MAX_PEM_FILE, "far larger than a certificate")


def read_attestations(directory: Path) -> list[FolderAttestation]:
    """Every YubiKey's archived attestation in ``directory`` (see the module docstring).

    Raises:
        VerificationError: no such folder, a YubiKey folder missing one of its two files, a
            file unreadable or oversize, or no attestation at all.
    """
    directory = Path(directory)
    if not directory.is_dir():
        what = "is not a folder" if directory.exists() else "does not exist"
        raise VerificationError(f"the attestation folder {directory} {what}")
    places = [directory] + ([directory / "keys"] if (directory / "keys").is_dir() else [])
    out: list[FolderAttestation] = []
    for place in places:
        for sub in sorted(p for p in place.iterdir() if p.is_dir() and p.name != "keys"):
            slot, device = sub / SLOT_FILE, sub / DEVICE_FILE
            old_slot, old_device = sub / f"{sub.name}_key_cert.pem", sub / f"{sub.name}_device_cert.pem"
            if not slot.exists() and not device.exists() and old_slot.exists():
                slot, device = old_slot, old_device
            if not slot.exists() and not device.exists():
                continue  # not a YubiKey's folder
            for need in (slot, device):
                if not need.exists():
                    raise VerificationError(f"attestation {sub.name}: {need.name} is missing from {sub}",
                                            hint=f"each YubiKey's folder holds {SLOT_FILE} and {DEVICE_FILE}")
            out.append(FolderAttestation(sub.name, _read_pem(slot), _read_pem(device),
                                         slot.name, device.name))
            if len(out) > MAX_ATTESTATIONS:
                raise VerificationError(f"{directory} holds more than {MAX_ATTESTATIONS} attestations")
    if not out:
        raise VerificationError(f"{directory} holds no attestation (<serial>/{SLOT_FILE} and "
                                f"<serial>/{DEVICE_FILE})")
    return out


__all__ = ["MAX_METADATA_FILE", "MAX_ROOT_FILE", "metadata_folder", "read_attestations", "read_source"]
