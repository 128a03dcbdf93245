#!/usr/bin/env bash
# Prepares a development machine (Debian 12 / Raspberry Pi OS Bookworm) for the demo
# and the tests: Debian packages when missing, and the project's venv. Idempotent.
#   scripts/bootstrap.sh            # what the demo needs
#   scripts/bootstrap.sh --tests    # plus what the tests need (RTSP server, ffmpeg, tflite-runtime venv)
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=false
[ "${1:-}" = "--tests" ] && want_tests=true

packages=(mosquitto mosquitto-clients)
$want_tests && packages+=(ffmpeg openssl systemd python3-venv python3-setuptools python3-wheel python3-gi gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bootstrap: installing Debian packages: ${missing[*]}" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

venv() {  # venv DIR EXTRAS: create DIR and install the project with EXTRAS, once per change of setup.py
  local dir=$1 extras=$2
  [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
  if [ ! -f "$dir/.installed" ] || [ setup.py -nt "$dir/.installed" ]; then
    echo "bootstrap: installing camhub-agent[$extras] into $dir" >&2
    "$dir/bin/pip" install -q --disable-pip-version-check -e ".[$extras]"
    touch "$dir/.installed"
  fi
}
venv .venv dev
# The legacy runtime needs numpy<2, so it gets an environment of its own.
$want_tests && venv .venv-tflite tflite
exit 0
