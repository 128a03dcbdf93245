#!/usr/bin/env bash
# Install, upgrade or uninstall camhub-agent as a systemd service on Raspberry Pi OS Bookworm.
# Safe to run again: an existing venv is upgraded in place and an existing config is never touched.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: sudo scripts/install.sh [options]

  --source PATH      checkout, source dir or wheel to install (default: this checkout)
  --model NAME       the catalog model to install (default: the catalog's default; see `camhub-agent model list`)
  --model-file PATH  install that model from a local file (e.g. a USB stick) instead of downloading it
  --model-url URL    download that model from URL (a mirror); its sha256 is checked all the same
  --no-model         leave the model alone
  --no-start         install and enable the service, but do not (re)start it
  --no-apt           do not apt-get install python3-venv / python3-picamera2
  --python PATH      interpreter for the venv (default /usr/bin/python3)
  --pip-args ARGS    extra arguments for pip install (word-split), e.g. "--no-index --find-links DIR"
  --uninstall        remove the service and /opt/camhub-agent; keeps config, spool and models
  --purge            with --uninstall: also remove /etc/camhub, /var/lib/camhub-agent and the MQTT credential
  --root DIR         act on a staging root (every path prefixed with DIR); skips apt, useradd, chown and the
                     running systemd, printing what it would do. For tests: the venv is not relocatable.
EOF
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SOURCE=$REPO
PYTHON=/usr/bin/python3
ROOT=""
ACTION=install
PURGE=0
START=1
APT=1
MODEL_ARGS=()
MODEL_NAME=()
FETCH_MODEL=1
PIP_ARGS=()

while (($#)); do
    case $1 in
        --source) SOURCE=$(realpath "$2"); shift ;;
        --model) MODEL_NAME=("$2"); shift ;;
        --model-file) MODEL_ARGS=(--file "$(realpath "$2")"); shift ;;
        --model-url) MODEL_ARGS=(--url "$2"); shift ;;
        --no-model) FETCH_MODEL=0 ;;
        --no-start) START=0 ;;
        --no-apt) APT=0 ;;
        --python) PYTHON=$2; shift ;;
        --pip-args) read -r -a PIP_ARGS <<<"$2"; shift ;;
        --uninstall) ACTION=uninstall ;;
        --purge) PURGE=1 ;;
        --root) ROOT=$(realpath -m "$2"); shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

UNIT=camhub-agent.service
SERVICE_USER=camhub
PREFIX=$ROOT/opt/camhub-agent
VENV=$PREFIX/venv
CONF_DIR=$ROOT/etc/camhub
CONFIG=$CONF_DIR/config.yaml
STATE_DIR=$ROOT/var/lib/camhub-agent
UNIT_DIR=$ROOT/etc/systemd/system
CREDENTIAL=$ROOT/etc/credstore/camhub-mqtt-password

say() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

# Commands that change the host outside the staging root: run them, or with --root only show them.
host() {
    if [[ -n $ROOT ]]; then
        printf '    would run: %s\n' "$*"
    else
        "$@"
    fi
}

systemd_running() { [[ -z $ROOT && -d /run/systemd/system ]] && command -v systemctl >/dev/null; }

# Enabling only writes symlinks, which systemctl can also do offline inside a staging root.
systemctl_files() {
    if [[ -n $ROOT ]]; then
        systemctl --root="$ROOT" "$@"
    elif command -v systemctl >/dev/null; then
        systemctl "$@"
    fi
}

install_apt_packages() {
    ((APT)) || return 0
    local packages=(python3-venv)
    # Raspberry Pi OS ships picamera2 (and libcamera's bindings) only as an apt package.
    if apt-cache show python3-picamera2 >/dev/null 2>&1; then
        packages+=(python3-picamera2)
    fi
    say "apt packages: ${packages[*]}"
    host apt-get install -y --no-install-recommends "${packages[@]}"
}

create_user() {
    say "service user $SERVICE_USER (groups: video)"
    if [[ -z $ROOT ]] && id "$SERVICE_USER" >/dev/null 2>&1; then
        host usermod --append --groups video "$SERVICE_USER"
    else
        host useradd --system --user-group --groups video --home-dir /var/lib/camhub-agent --no-create-home \
            --shell /usr/sbin/nologin "$SERVICE_USER"
    fi
}

python_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }

install_venv() {
    # A venv built for another Python (after an OS upgrade) has its packages in the wrong lib/pythonX.Y.
    if [[ -x $VENV/bin/python ]] && [[ $(python_version "$VENV/bin/python" 2>/dev/null) != $(python_version "$PYTHON") ]]; then
        say "venv was built for another Python: recreating $VENV"
        rm -rf "$VENV"
    fi
    if [[ -x $VENV/bin/python ]]; then
        say "upgrading venv $VENV"
        "$PYTHON" -m venv --system-site-packages --upgrade "$VENV"
    else
        say "creating venv $VENV (with system site packages, for apt's picamera2)"
        mkdir -p "$PREFIX"
        "$PYTHON" -m venv --system-site-packages "$VENV"
    fi
    say "pip install $SOURCE"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --upgrade "${PIP_ARGS[@]}" "$SOURCE"
    if "$VENV/bin/python" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("picamera2") is None)'; then
        # apt's simplejpeg (imported by picamera2) is built against Debian's numpy 1.x and breaks under the
        # venv's numpy 2; PyPI's build works with both and shadows it.
        say "picamera2 found: installing simplejpeg built for numpy 2"
        "$VENV/bin/python" -m pip install --disable-pip-version-check --upgrade "${PIP_ARGS[@]}" "simplejpeg>=1.8.1"
        "$VENV/bin/python" -c 'import picamera2' || echo "    warning: picamera2 does not import; Pi camera sources will fail" >&2
    fi
    [[ ! -f $REPO/README.md ]] || install -m 0644 "$REPO/README.md" "$PREFIX/README.md"
}

install_config() {
    install -d -m 0750 "$CONF_DIR"
    host chgrp "$SERVICE_USER" "$CONF_DIR"
    if [[ -e $CONFIG ]]; then
        say "keeping existing $CONFIG"
        return
    fi
    say "installing example config to $CONFIG: edit it before starting the service"
    install -m 0640 "$REPO/config/example.yaml" "$CONFIG"
    host chgrp "$SERVICE_USER" "$CONFIG"
    FRESH_CONFIG=1
}

install_model() {
    ((FETCH_MODEL)) || return 0
    say "model fetch ${MODEL_NAME[*]} ${MODEL_ARGS[*]}"
    install -d -m 0750 "$STATE_DIR"
    CAMHUB_STATE_DIR=$STATE_DIR "$VENV/bin/camhub-agent" model fetch "${MODEL_NAME[@]}" "${MODEL_ARGS[@]}"
    host chown -R "$SERVICE_USER:$SERVICE_USER" "$STATE_DIR"
}

install_service() {
    say "installing $UNIT_DIR/$UNIT"
    install -D -m 0644 "$REPO/systemd/$UNIT" "$UNIT_DIR/$UNIT"
    systemctl_files enable "$UNIT"
    if ! systemd_running; then
        say "systemd is not running here (or --root): skipped systemctl daemon-reload and start"
        return
    fi
    systemctl daemon-reload
    if ((!START)); then
        say "not starting (--no-start); start with: systemctl start camhub-agent"
    elif ((FRESH_CONFIG)); then
        say "edit $CONFIG, then: systemctl start camhub-agent"
    else
        # The service would exit 78 on a bad config and stay down: say so now, while someone is watching.
        "$VENV/bin/camhub-agent" check-config "$CONFIG" >/dev/null ||
            die "$CONFIG is invalid (see above); fix it, then: systemctl restart camhub-agent"
        say "restarting camhub-agent (waits for READY)"
        systemctl restart "$UNIT" || die "start failed; see: journalctl -u camhub-agent -n 50"
    fi
}

uninstall() {
    say "stopping and disabling camhub-agent"
    if systemd_running; then
        systemctl disable --now "$UNIT" || true
    elif [[ -e $UNIT_DIR/$UNIT ]]; then
        systemctl_files disable "$UNIT" || true
    fi
    rm -f "$UNIT_DIR/$UNIT"
    if systemd_running; then systemctl daemon-reload; fi
    say "removing $PREFIX"
    rm -rf "$PREFIX"
    if ((PURGE)); then
        say "purging $CONF_DIR, $STATE_DIR and $CREDENTIAL"
        rm -rf "$CONF_DIR" "$STATE_DIR" "$CREDENTIAL"
    else
        say "kept $CONF_DIR and $STATE_DIR (config, spool, models); --purge removes them"
    fi
    say "the $SERVICE_USER user is left in place (its uid may still own files)"
}

[[ -n $ROOT || $EUID -eq 0 ]] || die "run as root (or with --root DIR for a staging root)"
if [[ $ACTION == uninstall ]]; then
    uninstall
    exit 0
fi
[[ -f $REPO/config/example.yaml && -f $REPO/systemd/$UNIT ]] || die "run from a camhub-agent checkout"
FRESH_CONFIG=0
install_apt_packages
create_user
install_venv
install_config
install_model
install_service
say "done"
