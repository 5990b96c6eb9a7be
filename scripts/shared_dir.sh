#!/usr/bin/env bash
# Prints the workplace's shared folder (real frames, the vision_msgs source; never copied into this
# repository): $T3D_ROS_SHARED, else ../shared beside this checkout, else ../shared beside the checkout it
# was cloned from (a clone in /tmp of a local repository). Prints ../shared when none exists, so that the
# caller's "not found" message names the usual place.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${T3D_ROS_SHARED:-}" ]; then echo "$T3D_ROS_SHARED"; exit 0; fi
if [ -d "$REPO/../shared" ]; then echo "$REPO/../shared"; exit 0; fi
origin=$(git -C "$REPO" config --get remote.origin.url 2>/dev/null || true)
origin=${origin#file://}
if [ -n "$origin" ] && [ -d "$origin" ] && [ -d "$origin/../shared" ]; then
    (cd "$origin/../shared" && pwd); exit 0
fi
echo "$REPO/../shared"
