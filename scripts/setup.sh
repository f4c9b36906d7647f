#!/usr/bin/env bash
# Sets up conrt on a fresh Debian 12 machine: system packages (Mesa EGL/GL for
# headless OpenGL, ffmpeg-free: imageio-ffmpeg ships its own; xvfb + a C
# compiler + mono for the tests), then a virtualenv in .venv with the project.
# Idempotent: a second run only checks. Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

pkgs=(libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libgles2)
[ $want_test = 1 ] && pkgs+=(xvfb gcc mono-mcs)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
# the marker holds the extras installed last: `setup.sh` then `setup.sh --test`
# (the README's two commands in order) must still add the test extras
installed=$(cat .venv/.conrt-installed 2>/dev/null || true)
has_test=0
case ",$installed," in *,test,*) has_test=1 ;; esac
extras="window"
[ $want_test = 1 ] || [ $has_test = 1 ] && extras="window,test"
# torch is pinned in pyproject.toml to the CPU wheel (an open range pulls CUDA).
if ! .venv/bin/python -c "import conrt, torch, moderngl, pybullet, onnxruntime" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.conrt-installed ] || [ "$installed" != "$extras" ]; then
  echo "setup: installing conrt into .venv (first time: a few minutes)"
  .venv/bin/pip install -q --disable-pip-version-check -e ".[$extras]"
  echo "$extras" > .venv/.conrt-installed
fi
echo "setup: ok (.venv/bin/conrt)"
