#!/usr/bin/env bash
# Install the Debian packages Shoal needs, only those missing.  Idempotent;
# prints what it installs.  Runs apt-get directly as root, through sudo
# otherwise.
set -euo pipefail

PKGS=(build-essential cmake pkg-config clang python3 curl
      libuv1-dev libnng-dev liblz4-dev libmsgpack-dev liblmdb-dev lmdb-utils check
      libjansson-dev libxxhash-dev libmbedtls-dev)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "deps: done"
