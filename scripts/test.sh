#!/usr/bin/env bash
# Installs what the tests need (idempotently) and runs every test of the workspace.
#
#   scripts/test.sh            # everything the default suite runs
#   scripts/test.sh -p stego   # extra arguments go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."

# Real peers and tools the tests start: libtorrent (Debian's python binding),
# opentracker, sox (reads our WAV covers), tshark (captures), numpy and
# scikit-learn for the steganalysis detectors, curl as a SOCKS client,
# iproute2/ethtool for the emulated networks of the lab, a TrueType font for
# the text of `pacom lab` plots.
APT_PACKAGES=(python3-libtorrent opentracker sox tshark python3-numpy python3-sklearn
  curl iproute2 ethtool ca-certificates fonts-dejavu-core)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's python binding only imports under the system interpreter.
export PACOM_PYTHON=/usr/bin/python3
"$PACOM_PYTHON" -c 'import libtorrent, numpy, sklearn' \
  || { echo "system python lacks libtorrent/numpy/sklearn" >&2; exit 1; }
command -v opentracker >/dev/null || { echo "opentracker binary not on PATH" >&2; exit 1; }

cargo test --workspace "$@"
