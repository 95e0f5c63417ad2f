"""Small UI-independent steps the TUI needs on top of the engine, transfer and transport modules.

Each function here is what one CLI command does between parsing and printing
(``export``, ``import``, ``export-draft``, ``import-signature``, ``compromise``),
returned as data instead of printed, so the TUI screens can stay free of
ceremony logic. Nothing here imports Textual; everything raises the usual
``CeremonyError``/``HsmError`` with the operator sentence.

One module per concern; this package re-exports them so screens say ``flows.X``:
``export`` (USB, QR files, the animated terminal QR), ``imports`` (signatures back in),
``emergency``, ``script``, ``tokens`` (token presence, the touch prompt), ``witnesses``,
``new`` (a ceremony started from the TUI), ``remote`` (a keyholder elsewhere), ``audit``
and ``provision`` (YubiKey provisioning at keygen).

The names load on first use (PEP 562), as in :mod:`ceremony.transport`: ``from ceremony.flows.export
import X`` runs this package first, and an eager one would load all ten modules (the record,
the engine, YubiKey provisioning, the remote signer) for every command that uses one of them.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING

from ceremony.lazy import package_attributes

if TYPE_CHECKING:  # the types, for mypy; at run time __getattr__ loads each on first use
    from ceremony.flows.audit import (
        Audit,
        audit,
        audit_chain,
    )
    from ceremony.flows.emergency import (
        Suspect,
        assess_suspects,
        compromise_suspects,
        write_emergency_plan,
    )
    from ceremony.flows.export import (
        MIN_TERMINAL_VERSION,
        SIGNED_METADATA,
        Sent,
        TerminalQr,
        animate_export,
        bundle_for_display,
        bundle_to_qr,
        bundle_to_usb,
        choose_stick,
        default_export_dir,
        export_draft_file,
        export_draft_to,
        export_qr_to,
        export_usb_to,
        pack_files,
        published_exports,
        record_display,
        removable_mounts,
        send_bundle,
    )
    from ceremony.flows.imports import (
        IMPORT_FILE,
        IMPORT_QR,
        IMPORT_USB,
        Received,
        import_into,
        import_signature_file,
        import_signatures,
        import_to_folder,
        receive,
        split_paths,
    )
    from ceremony.flows.new import (
        PlanPreview,
        preview_plan,
        start_ceremony,
    )
    from ceremony.flows.provision import (
        YubiKeySlot,
        keygen_provision,
        provision_prompts,
        yubikey_slot,
    )
    from ceremony.flows.remote import (
        RemoteDraft,
        confirm_words,
        remote_draft,
        send_signature,
        sign_remote,
        signature_bundle,
    )
    from ceremony.flows.script import (
        write_script,
    )
    from ceremony.flows.tokens import (
        Presence,
        TouchCallback,
        call_with_touch,
        signing_tokens_present,
        token_absent,
        token_presence,
    )
    from ceremony.flows.witnesses import (
        ENROL,
        PUBLISH,
        PUBLISH_CONFIRMED,
        SEAL,
        WitnessView,
        confirm_publish,
        gate_sentence,
        publish_confirmed,
        witness_act,
        witness_view,
    )

# name -> the submodule that defines it
_HOME = {
    "Audit": "audit", "audit": "audit", "audit_chain": "audit",
    "Suspect": "emergency", "assess_suspects": "emergency", "compromise_suspects": "emergency",
    "write_emergency_plan": "emergency",
    "IMPORT_FILE": "imports", "IMPORT_QR": "imports", "IMPORT_USB": "imports",
    "MIN_TERMINAL_VERSION": "export", "SIGNED_METADATA": "export", "Sent": "export",
    "TerminalQr": "export", "animate_export": "export", "bundle_for_display": "export",
    "bundle_to_qr": "export", "bundle_to_usb": "export", "choose_stick": "export",
    "default_export_dir": "export", "export_draft_file": "export", "export_draft_to": "export",
    "export_qr_to": "export", "export_usb_to": "export", "pack_files": "export",
    "published_exports": "export", "record_display": "export", "removable_mounts": "export",
    "send_bundle": "export",
    "Received": "imports", "import_into": "imports", "import_signature_file": "imports",
    "import_signatures": "imports", "import_to_folder": "imports", "receive": "imports",
    "split_paths": "imports",
    "PlanPreview": "new", "preview_plan": "new", "start_ceremony": "new",
    "YubiKeySlot": "provision", "keygen_provision": "provision", "provision_prompts": "provision",
    "yubikey_slot": "provision",
    "RemoteDraft": "remote", "confirm_words": "remote", "remote_draft": "remote",
    "send_signature": "remote", "sign_remote": "remote", "signature_bundle": "remote",
    "write_script": "script",
    "Presence": "tokens", "TouchCallback": "tokens", "call_with_touch": "tokens",
    "signing_tokens_present": "tokens", "token_absent": "tokens", "token_presence": "tokens",
    "ENROL": "witnesses", "PUBLISH": "witnesses", "PUBLISH_CONFIRMED": "witnesses",
    "SEAL": "witnesses", "WitnessView": "witnesses", "confirm_publish": "witnesses",
    "gate_sentence": "witnesses", "publish_confirmed": "witnesses", "witness_act": "witnesses",
    "witness_view": "witnesses",
}


__getattr__, __dir__ = package_attributes(__name__, globals(), _HOME)


class _Package(types.ModuleType):
    """This package's module type: ``flows.audit`` stays the function when the submodule of the
    same name loads (the import system then sets the package's attribute to the submodule; the
    eager package rebound it with its own ``from ... import audit``, this does the same)."""

    def __setattr__(self, name: str, value: object) -> None:
        if (isinstance(value, types.ModuleType) and _HOME.get(name) == name
                and value.__name__ == f"{__name__}.{name}"):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "bundle_to_qr",
    "bundle_to_usb",
    "IMPORT_FILE",
    "IMPORT_QR",
    "IMPORT_USB",
    "MIN_TERMINAL_VERSION",
    "SIGNED_METADATA",
    "Sent",
    "TerminalQr",
    "bundle_for_display",
    "default_export_dir",
    "export_draft_to",
    "export_qr_to",
    "export_usb_to",
    "published_exports",
    "record_display",
    "removable_mounts",
    "import_signatures",
    "split_paths",
    "Received",
    "import_into",
    "import_signature_file",
    "import_to_folder",
    "receive",
    "animate_export",
    "choose_stick",
    "export_draft_file",
    "pack_files",
    "send_bundle",
    "Suspect",
    "assess_suspects",
    "compromise_suspects",
    "write_emergency_plan",
    "write_script",
    "Presence",
    "TouchCallback",
    "call_with_touch",
    "signing_tokens_present",
    "token_absent",
    "token_presence",
    "ENROL",
    "PUBLISH",
    "PUBLISH_CONFIRMED",
    "SEAL",
    "WitnessView",
    "confirm_publish",
    "gate_sentence",
    "publish_confirmed",
    "witness_act",
    "witness_view",
    "PlanPreview",
    "preview_plan",
    "start_ceremony",
    "RemoteDraft",
    "confirm_words",
    "remote_draft",
    "send_signature",
    "sign_remote",
    "signature_bundle",
    "Audit",
    "audit",
    "audit_chain",
    "YubiKeySlot",
    "keygen_provision",
    "provision_prompts",
    "yubikey_slot",
]
