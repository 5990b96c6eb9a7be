#!/usr/bin/env bash
# Trains the distillation teacher (PointNet++ SSG, the architecture of scripts/train_t3dnet.sh) on a
# GPU within a deadline, then its logits on the student's training set, which offline distillation
# caches beside the checkpoint (loop.teacher_logits): stage 2 then runs on a CPU without the teacher's
# hour-long forward pass. For a GPU machine with torch, numba and scipy; no ROS, no network:
#
#     RUN=out/runs/teacher_ssg_gpu DEADLINE=420 scripts/gpu_teacher.sh
#
# The data are made on that machine from the same seeds and code (the cache key is the code's hash);
# when they differ in any bit from the student's, the logits file's name does not match and the
# student computes them anew. Copy back $RUN/teacher.pt (the weights alone, 5.9 MB), logits_*.npy
# (3.8 MB) and log.csv; not ckpt_*.pt, which hold the optimizer too (17.7 MB, over the 16 MiB a file
# that the project's lent GPU machines return: a 40-epoch teacher was lost that way). Then distil:
#
#     python -m t3d_ros train --model tiny --init STAGE1/ckpt_best.pt --teacher $RUN/teacher.pt \
#         --kd-mode offline --kd-alpha 0.3 --kd-teacher-right $STUDENT_ARGS --data sim --sim-seeds 400 ...
#
# (the shipped model's stage 2; or `TEACHER=$RUN/teacher.pt scripts/train_t3dnet.sh`)
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
RUN=${RUN:-out/runs/teacher_ssg_gpu}
DEADLINE=${DEADLINE:-420}             # seconds for the data and the teacher; ckpt_best is used after it
EPOCHS=${EPOCHS:-40}                  # of 12,000 clusters each (the CPU recipe: 10 of 6,000)
LR_STEP=${LR_STEP:-15}
WORKERS=${WORKERS:-6}                 # DataLoader processes building batches on the CPU
DATA_WORKERS=${DATA_WORKERS:-8}       # processes simulating the 400 training scenes
STUDENT_ARGS=${STUDENT_ARGS:---oe-weight 0}  # the student's options that change its training set
# The teacher's input frame: "bearing" (clusters turned so that the sensor lies at -x) since 2026-11-30, when
# it gave the tiny models +3-5 points; the teacher whose logits the shipped model used had the sensor frame.
FRAME=${FRAME:-bearing}
# SIM_SEEDS (default 400, as the shipped recipe) only for trying the script on a CPU: SIM_SEEDS=4 EPOCHS=1
data="--data sim --sim-seeds ${SIM_SEEDS:-400} --n-points 128 --batch-size 32 --quiet"
teacher_cfg=$(cat scripts/teacher_ssg.json)  # the recipe's teacher (scripts/train_t3dnet.sh)
start=$(date +%s)

# shellcheck disable=SC2086
timeout "$DEADLINE" $PY -m t3d_ros train --model pointnet2_ssg --model-config "$teacher_cfg" $data \
    --workers "$WORKERS" --data-workers "$DATA_WORKERS" --epoch-clusters 12000 --epochs "$EPOCHS" \
    --lr-step "$LR_STEP" --frame "$FRAME" --out "$RUN"
echo "gpu_teacher: teacher rc $? after $(( $(date +%s) - start )) s"
[ -f "$RUN/ckpt_best.pt" ] || { echo "gpu_teacher: no checkpoint in $RUN"; exit 1; }

# The weights alone (what distillation loads); the logits below are keyed to this file.
$PY -c "import sys, torch; c = torch.load(sys.argv[1], map_location='cpu', weights_only=True)
[c.pop(k, None) for k in ('optimizer', 'scheduler')]; torch.save(c, sys.argv[2])" "$RUN/ckpt_best.pt" "$RUN/teacher.pt"
# One step of stage 2 computes the teacher's logits on the student's training set and caches them.
probe=$(mktemp -d)
# shellcheck disable=SC2086
$PY -m t3d_ros train --model tiny --teacher "$RUN/teacher.pt" --kd-mode offline $data $STUDENT_ARGS \
    --workers 0 --epochs 1 --max-steps 1 --no-resume --out "$probe" > "$probe.log" 2>&1
rc=$?
tail -3 "$probe.log"
rm -rf "$probe" "$probe.log"
echo "gpu_teacher: logits rc $rc after $(( $(date +%s) - start )) s"
ls -la "$RUN"
[ "$rc" = 0 ]
