#!/usr/bin/env bash
# Builds the vision_msgs interface package (no PyPI wheel) into a cached prefix inside the venv, from the
# workplace's unmodified source beside the checkout (never copied into this repository):
#
#   bash scripts/build_vision_msgs.sh      # run by `make setup`; then: . .venv/vision_msgs/install/local_setup.sh
#
# Idempotent: the build is skipped when the stamp file says the same source tree (hash of its files), the same
# Python, the same ROS wheels and the same requirements-interfaces.txt were built already (about a second).
# A real build takes about 2.5 minutes on 2 cores. Prints one line on success; on failure the logs' last lines.
#
# Environment: VISION_MSGS_SRC (default <shared>/ros/vision_msgs, <shared> as scripts/shared_dir.sh finds it:
# ../shared beside the checkout, or beside the checkout it was cloned from),
# VENV (default .venv). On a robot with ROS 2 from apt, install ros-<distro>-vision-msgs instead.
#
# Fragile parts, handled here:
# - The Kilted wheels' CMake configs name the include paths of the machine that built them,
#   /opt/python/cpXY-cpXY/include/pythonX.Y and .../lib/pythonX.Y/site-packages/numpy/_core/include.
#   The script links them to this interpreter's include dir and numpy's (creating only missing links, which
#   needs write access to /opt/python: root here and in CI). The tag and version come from the interpreter;
#   the wheels on PyPI are cp311 only, so in practice this means Python 3.11. If the wheels' configs name other
#   /opt/python paths than the ones derived, the script says so before building.
# - AMENT_PREFIX_PATH and CMAKE_PREFIX_PATH are set to the venv root (the wheels install share/<pkg>/cmake
#   there), whatever the calling shell had sourced.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
VENV=${VENV:-.venv}
SRC_REL=${VISION_MSGS_SRC:-$(bash scripts/shared_dir.sh)/ros/vision_msgs}
REQS=requirements-interfaces.txt

die() { echo "build_vision_msgs: $*" >&2; exit 1; }

[ -x "$VENV/bin/python" ] || die "no virtual environment at $VENV: run \`make setup\` (it creates it and runs this script)"
VENV_ABS=$(cd "$VENV" && pwd)
PY=$VENV_ABS/bin/python
[ -f "$SRC_REL/package.xml" ] || die "vision_msgs source not found at $SRC_REL (set VISION_MSGS_SRC to the folder holding its package.xml)"
SRC=$(cd "$SRC_REL" && pwd)
PREFIX=$VENV_ABS/vision_msgs            # build/, install/, log/ and the lock
INSTALL=$PREFIX/install
STAMP=$INSTALL/.built
# Shown paths are relative to the repository when they are inside it.
SHOW_INSTALL=${INSTALL#"$REPO"/}

mkdir -p "$PREFIX"
# One build at a time (make -j, two shells): the second waits, then finds the cache.
if command -v flock >/dev/null; then
    exec 9>"$PREFIX/.lock"
    flock 9
fi

# The cache key: source files (paths and contents), the interpreter, the installed ros-* wheels (the generated
# code is compiled against their headers) and the interfaces requirements file.
build_key() {
    "$PY" - "$SRC" "$REQS" "$INSTALL" <<'EOF'
import hashlib, importlib.metadata as md, os, sys, sysconfig
src, reqs, install = sys.argv[1:4]
h = hashlib.sha256()
for root, dirs, files in os.walk(src):
    dirs[:] = sorted(d for d in dirs if d not in (".git", "__pycache__"))
    for name in sorted(files):
        path = os.path.join(root, name)
        h.update(os.path.relpath(path, src).encode() + b"\0")
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
with open(reqs, "rb") as f:
    reqs_hash = hashlib.sha256(f.read()).hexdigest()
wheels = sorted({(d.metadata["Name"].lower(), d.version) for d in md.distributions()
                 if (d.metadata["Name"] or "").lower().startswith("ros-")})
print(f"source {src} sha256:{h.hexdigest()}")
print(f"python {sys.version.split()[0]} {sys.implementation.cache_tag} {sysconfig.get_config_var('SOABI')} "
      f"base {sys.base_prefix}")
print(f"prefix {install}")
print(f"{reqs} sha256:{reqs_hash}")
print("wheels sha256:" + hashlib.sha256(repr(wheels).encode()).hexdigest())
EOF
}

have_install() {
    [ -f "$INSTALL/local_setup.sh" ] && compgen -G "$INSTALL/vision_msgs/lib/python*/site-packages/vision_msgs/msg/__init__.py" >/dev/null
}

KEY=$(build_key)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$KEY" ] && have_install; then
    echo "vision_msgs: reusing the cached build in $SHOW_INSTALL (same source and Python)"
    exit 0
fi

START=$SECONDS
LOG=$PREFIX/build_vision_msgs.log
: >"$LOG"
show_log() { echo "--- last lines of $1:" >&2; tail -n "${2:-40}" "$1" >&2; }

# 1. The wheels the build needs (and cmake from PyPI when the machine has none).
if ! "$PY" -m pip install -q -r "$REQS" >>"$LOG" 2>&1; then
    show_log "$LOG"; die "pip install -r $REQS failed"
fi
if ! command -v cmake >/dev/null && [ ! -x "$VENV_ABS/bin/cmake" ]; then
    "$PY" -m pip install -q cmake >>"$LOG" 2>&1 || { show_log "$LOG"; die "no cmake, and pip install cmake failed"; }
fi
command -v c++ >/dev/null || command -v g++ >/dev/null || die "no C++ compiler (c++/g++): install gcc and g++ (Debian: apt-get install g++)"
KEY=$(build_key)   # after the install: the stamp records the wheels the build used

# 2. The include paths the wheels' CMake configs name, linked to this interpreter's (created only if missing).
mapfile -t LINKS < <("$PY" - <<'EOF'
import os, sys, sysconfig
import numpy
tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
root = f"/opt/python/{tag}-{tag}{sys.abiflags}"
include = sysconfig.get_paths()["include"]                          # .../include/python3.11
libdir = os.path.basename(sysconfig.get_paths()["stdlib"])          # python3.11
print(f"{root}/include/{os.path.basename(include)}\t{include}")
print(f"{root}/lib/{libdir}/site-packages/numpy/_core/include\t{numpy.get_include()}")
EOF
)
for pair in "${LINKS[@]}"; do
    link=${pair%%$'\t'*}
    target=${pair#*$'\t'}
    [ -e "$link" ] && continue                       # exists (a link to a live target, or a real folder)
    [ -d "$target" ] || die "include folder $target not found (Python headers or numpy missing from this interpreter)"
    if ! { mkdir -p "$(dirname "$link")" && ln -sfn "$target" "$link"; } 2>>"$LOG"; then
        show_log "$LOG" 5
        die "cannot create $link -> $target, a path that the ROS wheels' CMake configs name.
  It needs write access to /opt/python: run this script once as root, or as root run:
  mkdir -p $(dirname "$link") && ln -s $target $link"
    fi
done
# The paths the installed wheels really name (in the configs of the packages vision_msgs depends on).
for named in $(grep -rhoE '/opt/python/[^;" ]+' "$VENV_ABS"/share/{std_msgs,geometry_msgs}/cmake 2>/dev/null | sort -u); do
    [ -e "$named" ] || echo "build_vision_msgs: warning: the ROS wheels name $named, which this script did not" \
        "derive from $("$PY" -c 'import sys; print(sys.version.split()[0])') (wheels built for another Python?);" \
        "configuring will likely fail" >&2
done

# 3. The build, from a clean slate (a stale CMake cache could name another Python).
rm -f "$STAMP"
rm -rf "$PREFIX/build" "$INSTALL" "$PREFIX/log"
if ! env AMENT_PREFIX_PATH="$VENV_ABS" CMAKE_PREFIX_PATH="$VENV_ABS" PATH="$VENV_ABS/bin:$PATH" \
        "$VENV_ABS/bin/colcon" --log-base "$PREFIX/log" build --paths "$SRC" \
        --build-base "$PREFIX/build" --install-base "$INSTALL" \
        --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$PY" >>"$LOG" 2>&1; then
    show_log "$LOG" 40                                # colcon's output, with the failed step's stderr
    pkg_log=$PREFIX/log/latest_build/vision_msgs/stdout_stderr.log   # written when colcon-output is installed
    if [ -f "$pkg_log" ]; then show_log "$pkg_log" 40; fi
    die "colcon build of vision_msgs failed (logs: $LOG, $PREFIX/log/latest_build)"
fi
have_install || { show_log "$LOG"; die "colcon finished but $INSTALL has no vision_msgs Python package"; }
printf '%s\n' "$KEY" >"$STAMP"
echo "vision_msgs: built into $SHOW_INSTALL in $((SECONDS - START)) s (source $SRC_REL); . $SHOW_INSTALL/local_setup.sh"
