#!/usr/bin/env bash
# Create .venv with the whole mmmobile stack, on a fresh machine or incrementally.
#
# - A stamp file (.venv/.mmmobile-ready) holding a hash of every requirements file and setup.py is
#   written only after every step succeeded; with a matching stamp this script returns in seconds.
# - Any failed step prints one clear message, removes the half-built .venv and exits non-zero, so no
#   later command trusts a broken environment.
# - mmcv 2.1.0 is built from its sdist with ops (CPU kernels) against the venv's torch, with the
#   C++ standard raised to C++20 (torch 2.14 headers need it). The wheel is cached outside the
#   repository, keyed by mmcv/torch/python versions (override the folder with MMMOBILE_CACHE).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
CACHE="${MMMOBILE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmmobile}"
MMCV_VERSION=2.1.0
TORCH_VERSION=2.14.1
STAMP="$VENV/.mmmobile-ready"
export OMP_WAIT_POLICY=PASSIVE PIP_DISABLE_PIP_VERSION_CHECK=1

cd "$ROOT"
want_hash=$(cat requirements/*.txt setup.py tools/setup_env.sh | sha256sum | cut -d' ' -f1)
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want_hash" ]]; then
  exit 0
fi

step="starting"
on_error() {
  echo "mmmobile setup FAILED during: $step" >&2
  echo "  the half-built $VENV was removed; fix the cause above and run 'make setup' again." >&2
  rm -rf "$VENV"
}
trap on_error ERR

log() { step="$1"; printf '[setup] %s\n' "$1"; }

if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV with $("$PYTHON" --version 2>&1)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
fi
rm -f "$STAMP"
PIP=("$VENV/bin/python" -m pip install --quiet)

log "installing build tools (setuptools 81: pkg_resources is still needed)"
"${PIP[@]}" -r requirements/build.txt
log "installing torch $TORCH_VERSION + torchvision (the pair mmpretrain imports with)"
"${PIP[@]}" -r requirements/torch.txt -r requirements/build.txt

py_tag=$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info.major}{sys.version_info.minor}")')
torch_have=$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')
wheel_dir="$CACHE/wheels/mmcv-$MMCV_VERSION-torch$torch_have-$py_tag"
if ! ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1; then
  log "building mmcv $MMCV_VERSION with CPU ops against torch $torch_have (about 9 minutes on 2 cores)"
  work=$(mktemp -d)
  "$VENV/bin/python" -m pip download --quiet --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$work"
  tar -xzf "$work"/mmcv-"$MMCV_VERSION".tar.gz -C "$work"
  src="$work/mmcv-$MMCV_VERSION"
  grep -q -- "-std=c++17" "$src/setup.py"
  sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
  (cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    "$VENV/bin/python" -m pip wheel --quiet --no-deps --no-build-isolation . -w "$work/dist")
  mkdir -p "$wheel_dir.tmp.$$"
  mv "$work"/dist/mmcv-*.whl "$wheel_dir.tmp.$$/"
  rm -rf "$wheel_dir" && mv "$wheel_dir.tmp.$$" "$wheel_dir"
  rm -rf "$work"
fi
log "installing mmcv from $wheel_dir"
"${PIP[@]}" --no-deps --force-reinstall "$wheel_dir"/mmcv-*.whl
"${PIP[@]}" addict packaging Pillow pyyaml yapf opencv-python -r requirements/build.txt

log "installing mmengine, mmdet, mmsegmentation, mmpretrain and extras"
"${PIP[@]}" -r requirements/runtime.txt -r requirements/tests.txt -r requirements/deploy.txt \
  -r requirements/benchmark.txt -r requirements/build.txt -r requirements/torch.txt
log "installing mmmobile (editable)"
"${PIP[@]}" --no-build-isolation -e ".[tests,deploy,benchmark]" -r requirements/build.txt \
  -r requirements/torch.txt

log "checking the stack imports"
"$VENV/bin/python" - <<'EOF'
import mmcv, mmcv.ops, mmdet.models, mmseg.models, mmpretrain.models, pkg_resources  # noqa
import mmmobile
assert mmcv.__version__ == '2.1.0', mmcv.__version__
print(f'[setup] ok: torch {__import__("torch").__version__}, mmcv {mmcv.__version__}, '
      f'mmdet {__import__("mmdet").__version__}, mmseg {__import__("mmseg").__version__}, '
      f'mmpretrain {__import__("mmpretrain").__version__}, mmmobile {mmmobile.__version__}')
EOF
trap - ERR
echo "$want_hash" > "$STAMP"
