#!/usr/bin/env bash
# Throwaway online keys (targets, snapshot, timestamp) for a rehearsal's online side, on their own
# SoftHSM token in a private folder; their public keys as PEM files for the plan.
#   CEREMONY_PIN=... softhsm-setup/make-online-keys.sh TOKENS_DIR PUBKEY_DIR
# Prints the `export SOFTHSM2_CONF=...` line the online side signs with. Rehearsals only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py="$root/.venv/bin/python"
[ -x "$py" ] || py=python3
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" exec "$py" -m ceremony.online.rehearsal_keys "$@"
