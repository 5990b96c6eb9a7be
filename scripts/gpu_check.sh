#!/usr/bin/env bash
# GPU check of the CUDA sampling ops and the classifier's GPU path (issue 12), for a machine with a
# GPU, torch with CUDA, numba, onnxruntime and pytest; no ROS and no network needed. Run from the
# repository root (the tree need not be installed):
#
#     OUT=/some/folder scripts/gpu_check.sh      # default OUT: out/gpu_check; PYTHON: default python3
#
# 1. builds the CUDA library ahead of time (python -m t3d_ros.classify.ops.cuda),
# 2. runs the CUDA-vs-reference tests that need no ROS (test files that import rclpy are left out),
# 3. times the classifier's GPU path and Perception.process on a simulated HDL-64E frame
#    (scripts/gpu_check.py; the simulator and segmentation need scipy: without it synthetic clusters),
# and writes $OUT/gpu.json and $OUT/gpu.md (to copy to benchmarks/results/). At most 8 minutes (the
# steps' timeouts: 150 + 180 + 150 s).
# Without a GPU it says so, writes that into $OUT/gpu.json and exits 0 (GPU_CHECK_DRY=1: run every
# step anyway, on the CPU, to try the script's mechanics).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu_check}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export T3D_ROS_CACHE=${T3D_ROS_CACHE:-/tmp/t3d_ros_cache}  # the build cache: not under $OUT
COMMAND="OUT=$OUT scripts/gpu_check.sh"
start=$(date +%s)

gpu=$($PY -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" 2>"$OUT/torch.err")
if [ -z "$gpu" ] && [ -n "${GPU_CHECK_DRY:-}" ]; then
    gpu="none (GPU_CHECK_DRY: the script's mechanics on the CPU)"
elif [ -z "$gpu" ]; then
    why=$( [ -s "$OUT/torch.err" ] && tail -1 "$OUT/torch.err" || echo "torch.cuda.is_available() is False")
    echo "gpu_check: no GPU ($why): nothing to check"
    printf '{"gpu": null, "reason": %s, "command": %s}\n' \
        "$($PY -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$why")" \
        "$($PY -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$COMMAND")" > "$OUT/gpu.json"
    exit 0
fi
echo "gpu_check: $gpu"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$OUT/nvidia-smi.txt" 2>&1 || true
$PY -c "import sys, torch, numpy, numba; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda',
torch.version.cuda, 'numpy', numpy.__version__, 'numba', numba.__version__)" > "$OUT/versions.txt" 2>&1
$PY -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())" \
    >> "$OUT/versions.txt" 2>&1
$PY -c "import scipy; print('scipy', scipy.__version__)" >> "$OUT/versions.txt" 2>&1 || echo "scipy missing" >> "$OUT/versions.txt"
cat "$OUT/versions.txt"

echo "== 1. build the CUDA library ahead of time"
timeout 150 $PY -m t3d_ros.classify.ops.cuda > "$OUT/build.log" 2>&1
build_rc=$?
cat "$OUT/build.log"

echo "== 2. CUDA-vs-reference tests (no ROS)"
tests=()
for f in test/test_ops.py test/test_inputs.py test/test_classifier_gpu.py; do
    if grep -q "rclpy" "$f"; then echo "left out (imports rclpy): $f"; else tests+=("$f"); fi
done
timeout 180 $PY -m pytest -q -rs -p no:cacheprovider "${tests[@]}" --junitxml="$OUT/pytest.xml" > "$OUT/pytest.log" 2>&1
test_rc=$?
tail -25 "$OUT/pytest.log"

echo "== 3. timings"
timeout 150 $PY scripts/gpu_check.py "$OUT" > "$OUT/timing.log" 2>&1
time_rc=$?
tail -60 "$OUT/timing.log"

$PY - "$OUT" "$gpu" "$COMMAND" "$build_rc" "$test_rc" "$time_rc" "$start" "${tests[*]}" <<'PYEOF'
import json, re, sys, time
from pathlib import Path
out, gpu, command, build_rc, test_rc, time_rc, start, tests = sys.argv[1:]
out = Path(out)
def read(name):
    p = out / name
    return p.read_text().strip() if p.exists() else ""
summary = (re.findall(r"^=*\s*(\d+ (?:passed|failed|error).*?)\s*=*$", read("pytest.log"), re.M) or [""])[-1]
timing = json.loads(read("gpu_timing.json") or "{}")
doc = {"gpu": gpu, "nvidia_smi": read("nvidia-smi.txt"), "versions": read("versions.txt").splitlines(),
       "command": command, "build": {"rc": int(build_rc), "log": read("build.log").splitlines()[-3:]},
       "tests": {"rc": int(test_rc), "files": tests.split(), "summary": summary},
       "timing_rc": int(time_rc), "timing": timing, "seconds": round(time.time() - int(start))}
(out / "gpu.json").write_text(json.dumps(doc, indent=1))
lines = [f"# GPU check: {gpu}", "", f"`{command}` ({doc['seconds']} s). nvidia-smi: {doc['nvidia_smi']}", "",
         *[f"- {v}" for v in doc["versions"]], "",
         f"Build: rc {build_rc}; {' / '.join(doc['build']['log'])}", "",
         f"Tests ({', '.join(doc['tests']['files'])}): {summary or 'no summary'} (rc {test_rc})", "",
         f"Classifier on {timing.get('clusters', '?')}, p50 of {timing.get('calls', '?')} calls (ms):", "",
         "| classifier | ops | sample_group | network | total |", "|---|---|---|---|---|"]
for name in ("torch_cuda", "torch_cpu", "onnxruntime_cpu"):
    r = timing.get(name, {})
    if "error" in r or not r:
        lines.append(f"| {name} | error: {r.get('error', 'not run')} | | | |")
    else:
        lines.append(f"| {r['description']} | {r['ops_backend']} | {r['sample_group_ms_p50']} | "
                     f"{r['network_ms_p50']} | {r['total_ms_p50']} |")
lines += ["", "Perception.process on a simulated HDL-64E frame, p50 (ms):", ""]
for device in ("cuda", "cpu"):
    r = timing.get(f"perception_{device}", {})
    lines.append(f"- device {device}: " + (f"error: {r['error']}" if "error" in r or not r else
                 f"{r['process_ms_p50']} ms, {r['points']} points, {r['detections']} detections, {r['mode']}"))
(out / "gpu.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PYEOF
echo "gpu_check: wrote $OUT/gpu.json and $OUT/gpu.md (build rc $build_rc, tests rc $test_rc, timing rc $time_rc)"
[ "$build_rc" = 0 ] && [ "$test_rc" = 0 ] && [ "$time_rc" = 0 ]
