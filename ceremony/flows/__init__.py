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
"""

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
    IMPORT_FILE,
    IMPORT_QR,
    IMPORT_USB,
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
