#!/usr/bin/env bash
# Make throwaway SoftHSM tokens in a private folder with its own SOFTHSM2_CONF, no terminal needed.
#   CEREMONY_PIN=... softhsm-setup/make-tokens.sh DIR LABEL [LABEL...]
# Prints the `export SOFTHSM2_CONF=...` line to use them. For rehearsals and CI only:
# SoftHSM keeps keys in files, so it never holds a real root key.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py="$root/.venv/bin/python"
[ -x "$py" ] || py=python3
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" exec "$py" -m hsm.softhsm "$@"
