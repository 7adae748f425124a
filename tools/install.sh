#!/usr/bin/env bash
# Set up the Python environment featsel needs, from nothing or from whatever is
# already there. Safe to re-run: a second run checks the stamp and returns.
#
# Usage: tools/install.sh [--mmcv-only] [--force]
#
# Environment:
#   FEATSEL_VENV         virtualenv to use (default: the active one if
#                        VIRTUAL_ENV is set, else .venv in the repository root)
#   PYTHON               interpreter that creates the virtualenv (python3)
#   FEATSEL_TORCH_SPEC   what to install when no torch>=2.1 is present
#                        (torch==2.13.0); install torch yourself first to pick
#                        a CUDA or CPU build
#   FEATSEL_WHEEL_CACHE  where mmcv wheels built here are kept
#                        (~/.cache/featsel/wheels)
#   PIP_FIND_LINKS       searched for a ready mmcv wheel before building one;
#                        ../shared/wheels beside the repository is searched too
#   MAX_JOBS             parallel compile jobs for mmcv's ops (nproc)
#
# mmcv 2.1.0 is the newest release mmdet 3.3.0 and mmseg 1.2.2 accept, and it
# has no prebuilt wheel for recent torch releases: unless a wheel is found in
# the cache or in pip's find-links, it is built from its source distribution
# (about 15-25 minutes on two cores) and the wheel is cached for next time.
set -euo pipefail

MMCV_VERSION=2.1.0
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TORCH_SPEC="${FEATSEL_TORCH_SPEC:-torch==2.13.0}"
WHEEL_CACHE="${FEATSEL_WHEEL_CACHE:-$HOME/.cache/featsel/wheels}"
export MAX_JOBS="${MAX_JOBS:-$(nproc 2>/dev/null || echo 2)}"

MMCV_ONLY=0
FORCE="${FEATSEL_FORCE_INSTALL:-0}"
for arg in "$@"; do
    case "$arg" in
        --mmcv-only) MMCV_ONLY=1 ;;
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown argument '$arg'" >&2; exit 2 ;;
    esac
done

if [ -n "${FEATSEL_VENV:-}" ]; then
    VENV="$FEATSEL_VENV"
elif [ -n "${VIRTUAL_ENV:-}" ]; then
    VENV="$VIRTUAL_ENV"
else
    VENV="$REPO_ROOT/.venv"
fi
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
VPY="$VENV/bin/python"
export PATH="$VENV/bin:$PATH"  # the build looks for ninja on PATH
STAMP="$VENV/.featsel-install.stamp"

log() { echo "[install] $*"; }
die() { echo "[install] ERROR: $*" >&2; exit 1; }

TOTAL_START=$SECONDS
STEP_NAME=""
STEP_START=0
step_begin() { STEP_NAME="$1"; STEP_START=$SECONDS; log "$STEP_NAME ..."; }
step_end() { log "$STEP_NAME: ${1:-done} ($((SECONDS - STEP_START))s)"; }

pip_() { "$VPY" -m pip "$@"; }

# What the stamp certifies: the dependency lists, this script and the torch
# build. Any change to these makes the next run do the work again.
stamp_content() {
    {
        cat "$REPO_ROOT/setup.py" "$REPO_ROOT/requirements/"*.txt "$REPO_ROOT/tools/install.sh"
        "$VPY" -c 'import torch; print(torch.__version__)' 2>/dev/null || true
    } | sha256sum | cut -d' ' -f1
}

# Exits 0 when the installed mmcv is the wanted release and its compiled ops load.
mmcv_ok() {
    "$VPY" - "$MMCV_VERSION" <<'PY' >/dev/null 2>&1
import sys
import mmcv
import mmcv._ext  # noqa: F401  compiled ops
sys.exit(0 if mmcv.__version__ == sys.argv[1] else 1)
PY
}

# ---------------------------------------------------------------- virtualenv
step_begin "virtualenv $VENV"
if [ -x "$VPY" ]; then
    step_end "reused"
else
    BOOT_PY="${PYTHON:-python3}"
    command -v "$BOOT_PY" >/dev/null || die "'$BOOT_PY' not found; set PYTHON to a Python >= 3.8 interpreter."
    "$BOOT_PY" -c 'import sys; sys.exit(sys.version_info < (3, 8))' \
        || die "$BOOT_PY is older than Python 3.8."
    "$BOOT_PY" -m venv "$VENV" || die "could not create $VENV (on Debian/Ubuntu: apt-get install python3-venv)."
    step_end "created"
fi

# featsel itself is only checked to be installed: an import error in its own
# code is for the tests to report, not a reason to reinstall everything.
CHECK_LIBS='import importlib.metadata, torch, mmcv._ext, mmengine, mmdet, mmseg
importlib.metadata.version("featsel")'
if [ "$MMCV_ONLY" = 0 ] && [ "$FORCE" = 0 ] && [ -f "$STAMP" ] \
        && [ "$(cat "$STAMP")" = "$(stamp_content)" ] \
        && "$VPY" -c "$CHECK_LIBS" >/dev/null 2>&1; then
    log "environment is up to date (stamp $STAMP); use --force to redo. Total $((SECONDS - TOTAL_START))s"
    exit 0
fi

# ---------------------------------------------------------------- torch
step_begin "torch"
if FOUND_TORCH="$("$VPY" - <<'PY' 2>/dev/null
import torch
major, minor = (int(p) for p in torch.__version__.split('+')[0].split('.')[:2])
assert (major, minor) >= (2, 1)
print(torch.__version__)
PY
)"; then
    step_end "present, $FOUND_TORCH"
else
    # shellcheck disable=SC2086  # the spec may carry extra pip options
    pip_ install -q $TORCH_SPEC
    step_end "installed $TORCH_SPEC"
fi
TORCH_VERSION="$("$VPY" -c 'import torch; print(torch.__version__)' 2>/dev/null)"

# ---------------------------------------------------------------- mmcv deps
# Everything in runtime.txt except mmcv itself: pip must never try to build
# mmcv on its own (an isolated build cannot see torch and fails).
REQS_NO_MMCV="$(mktemp)"
trap 'rm -f "$REQS_NO_MMCV"' EXIT
grep -v -E '^[[:space:]]*mmcv([<>=!~ ;]|$)' "$REPO_ROOT/requirements/runtime.txt" > "$REQS_NO_MMCV"
step_begin "runtime dependencies (without mmcv)"
pip_ install -q -r "$REQS_NO_MMCV"
step_end

# ---------------------------------------------------------------- mmcv
# Wheels are kept per torch build: mmcv's ops link against torch's C++ ABI, so
# a wheel built for one torch release does not load under another.
MMCV_CACHE="$WHEEL_CACHE/torch-$TORCH_VERSION"

install_mmcv_from() {  # $@: extra pip options naming where to look
    pip_ install -q --no-index --only-binary mmcv --no-deps --force-reinstall \
        "$@" "mmcv==$MMCV_VERSION" >/dev/null 2>&1 && mmcv_ok
}

step_begin "mmcv $MMCV_VERSION with ops"
if mmcv_ok; then
    step_end "present"
else
    SOURCE=""
    if ls "$MMCV_CACHE"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1 \
            && install_mmcv_from --find-links "$MMCV_CACHE"; then
        SOURCE="wheel cache $MMCV_CACHE"
    fi
    if [ -z "$SOURCE" ]; then
        # --no-index still searches every find-links pip is configured with
        # (PIP_FIND_LINKS, pip.conf) plus the shared wheel folder if present.
        EXTRA=()
        if [ -d "$REPO_ROOT/../shared/wheels" ]; then
            EXTRA=(--find-links "$(cd "$REPO_ROOT/../shared/wheels" && pwd)")
        fi
        if install_mmcv_from ${EXTRA[@]+"${EXTRA[@]}"}; then
            SOURCE="pip find-links"
        fi
    fi
    if [ -z "$SOURCE" ]; then
        log "no usable mmcv $MMCV_VERSION wheel for torch $TORCH_VERSION; building from source" \
            "with MAX_JOBS=$MAX_JOBS (15-25 minutes on two cores) into $MMCV_CACHE"
        command -v c++ >/dev/null || die "no C++ compiler (c++) found; mmcv's ops need one (Debian/Ubuntu: apt-get install build-essential)."
        mkdir -p "$MMCV_CACHE"
        # The known-good build set: mmcv's setup.py imports pkg_resources, and
        # the extension builder of torch < 2.4 imports pkg_resources.packaging,
        # which setuptools 70 dropped. The runtime pin is restored afterwards.
        BUILD_LOG="$MMCV_CACHE/build-mmcv-$MMCV_VERSION.log"
        : >"$BUILD_LOG"
        pip_ install "setuptools<70" wheel ninja >>"$BUILD_LOG" 2>&1 \
            || die "could not install the build tools; see $BUILD_LOG"
        # --no-build-isolation: the build must see the installed torch.
        # --no-cache-dir: pip's own wheel cache does not know which torch a
        # cached build belongs to.
        if ! MMCV_WITH_OPS=1 pip_ wheel -v --no-build-isolation --no-deps --no-cache-dir \
                --no-binary mmcv "mmcv==$MMCV_VERSION" -w "$MMCV_CACHE" >>"$BUILD_LOG" 2>&1; then
            tail -n 30 "$BUILD_LOG" >&2
            die "building mmcv $MMCV_VERSION failed; full log: $BUILD_LOG"
        fi
        pip_ install -r "$REQS_NO_MMCV" >>"$BUILD_LOG" 2>&1 \
            || die "could not restore the runtime dependencies after the build; see $BUILD_LOG"
        install_mmcv_from --find-links "$MMCV_CACHE" || true
        SOURCE="built from source"
    fi
    if ! mmcv_ok; then
        "$VPY" -c 'import mmcv._ext' 2>&1 | tail -n 5 >&2 || true
        die "mmcv $MMCV_VERSION is installed but 'import mmcv._ext' fails: its compiled ops are" \
            "missing or were built for another torch. Remove $MMCV_CACHE and run again."
    fi
    step_end "$SOURCE"
fi
if [ -n "$("$VPY" -c 'import torch; print(torch.version.cuda or "")' 2>/dev/null)" ] \
        && [ "$("$VPY" -c 'from mmcv.ops import get_compiling_cuda_version as v; print(v())' 2>/dev/null)" = "not available" ]; then
    log "warning: torch has CUDA but mmcv's ops were built without it; GPU ops will be missing."
fi

if [ "$MMCV_ONLY" = 1 ]; then
    log "mmcv part done. Total $((SECONDS - TOTAL_START))s"
    exit 0
fi

# ---------------------------------------------------------------- featsel
step_begin "featsel (editable, with test extras)"
(cd "$REPO_ROOT" && pip_ install -q --no-build-isolation -e ".[tests]")
step_end

step_begin "check imports"
"$VPY" -c "$CHECK_LIBS" || die "the environment is installed but one of featsel's libraries does not import."
"$VPY" -c 'import featsel' || log "warning: featsel is installed but 'import featsel' fails (see above)."
step_end "$("$VPY" -c 'import torch, mmcv; print("torch", torch.__version__, "| mmcv", mmcv.__version__)' 2>/dev/null)"
stamp_content > "$STAMP"
log "done. Total $((SECONDS - TOTAL_START))s. Python: $VPY"
