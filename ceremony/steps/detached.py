"""The detached import step's journal entry: a signature made outside the room, taken in.

Reading the signature file and verifying it against the draft and the key it names is
``ceremony.detached``'s; this journals each verified signature as ``signature-added`` with the
file it came from, typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ceremony.events import Recorder, SignatureAdded, build


def signature_imported(c: Recorder, keyholder: str, keyid: str, fields: Mapping[str, Any],
                       draft: str | None, token_serial: str | None, imported: str,
                       role: str | None = None) -> None:
    """Journal a verified detached signature by ``keyholder``'s key ``keyid``.

    ``fields`` are the format's signature fields (``sig``, and e.g. Notary's ``method``);
    ``imported`` the name of the file it came in; ``role`` the role signed when it is not
    root (``draft`` is then that role's digest).

    Raises:
        StateError: the ceremony is sealed.
        WorkspaceError: the format's fields lack ``sig``, or the journal cannot be written.
    """
    c.append(build(SignatureAdded, {"keyholder": keyholder, "keyid": keyid, **fields,
                                    "draft": draft, "token_serial": token_serial,
                                    "imported": imported}
                   | ({"role": role} if role else {}), "the imported signature"))
