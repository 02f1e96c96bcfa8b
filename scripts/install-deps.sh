#!/usr/bin/env bash
# Installs the Debian packages moelab needs to build and test, when missing.
# Idempotent and quiet when everything is present.
set -euo pipefail

packages=(
  g++ cmake make pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcpp-httplib-dev libcli11-dev libpcre2-dev libutf8proc-dev
  python3 python3-numpy
  chromium  # headless rendering check of the comparison report's charts
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run the JavaScript reference implementations in the tests.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if ((${#missing[@]} == 0)); then exit 0; fi
echo "moelab: installing missing packages: ${missing[*]}" >&2
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=sudo
  else
    echo "moelab: these Debian packages are missing and I am not root: ${missing[*]}" >&2
    echo "moelab: run 'sudo apt-get install ${missing[*]}' or 'sudo make deps'." >&2
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
