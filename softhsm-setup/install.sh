#!/usr/bin/env bash
# Install the Debian packages the ceremony tool and its tests need (SoftHSM first of all).
# Idempotent: only missing packages are installed. Needs root (or sudo) on Debian/Ubuntu.
# Elsewhere: install SoftHSM 2.6+ (softhsm2-util on PATH, libsofthsm2.so in a standard place,
# or name it with CEREMONY_PKCS11_MODULE), then run the Python part (make venv).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t pkgs < <(grep -v '^\s*#' "$here/debian-packages.txt" | grep -v '^\s*$')
# Names an installed package provides count as present: NodeSource's nodejs provides (and
# conflicts with) Debian's npm, so asking apt for npm there would fail.
provided=$(dpkg-query -W -f='${Status}|${Provides}\n' 2>/dev/null | grep "^install ok installed|" \
  | cut -d'|' -f2 | tr ',' '\n' | sed -e 's/([^)]*)//g' -e 's/^ *//' -e 's/ *$//' | sort -u)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
  grep -qxF "$p" <<<"$provided" && continue
  missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "error: not a Debian system; install these yourself: ${missing[*]}" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
