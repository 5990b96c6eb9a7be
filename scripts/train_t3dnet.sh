#!/usr/bin/env bash
# Reproduces models/t3d_tiny.* and the T3DNet ablation table of the README (`make model`).
# Stage 0 teacher (PointNet++ SSG), tiny alone, stage 1 tiny + NetAug, stage 2 NetAug + distillation,
# then export and eval. Data: 100 simulated scenes x 4 sensors (train), disjoint seeds for val/test.
# Time on the 2-core CPU machine: ~1.5 h (the teacher dominates); a GPU takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-out/runs}
KITTI=${KITTI:-../shared/data/kitti}
data="--data sim --sim-seeds 100 --n-points 128 --batch-size 32 --epoch-clusters 6000 --quiet"
teacher_cfg='{"sa_config": [[128, 0.4, 32, [64, 64, 128]], [32, 0.8, 32, [128, 128, 256]], [0, null, null, [256, 512, 1024]]]}'

$PY -m t3d_ros train --model pointnet2_ssg --model-config "$teacher_cfg" $data --epochs 4 --lr-step 2 \
    --out $RUNS/teacher_ssg
$PY -m t3d_ros train --model tiny $data --epochs 8 --lr-step 3 --augment-strength 0.5 --out $RUNS/tiny
$PY -m t3d_ros train --model tiny_netaug --netaug $data --epochs 8 --lr-step 3 --augment-strength 0.5 \
    --out $RUNS/tiny_netaug
$PY -m t3d_ros train --model tiny --init $RUNS/tiny_netaug/ckpt_best.pt --teacher $RUNS/teacher_ssg/ckpt_best.pt \
    $data --epochs 4 --lr 5e-4 --lr-step 2 --augment-strength 0.5 --out $RUNS/tiny_netaug_kd

evals=(--data sim)
[ -d "$KITTI/training" ] && evals+=(--data "kitti:$KITTI" --data "kitti-objects:$KITTI")
for run in teacher_ssg tiny tiny_netaug tiny_netaug_kd; do
    $PY -m t3d_ros eval $RUNS/$run/ckpt_best.pt "${evals[@]}" --json $RUNS/$run/eval.json \
        --png $RUNS/$run/confusion.png > /dev/null
done
$PY -m t3d_ros export $RUNS/tiny_netaug_kd/ckpt_best.pt --out models --name t3d_tiny \
    --metrics $RUNS/tiny_netaug_kd/eval.json
$PY -m t3d_ros eval models/t3d_tiny.json "${evals[@]}" --json models/t3d_tiny_eval.json --png docs/confusion_t3d_tiny.png
