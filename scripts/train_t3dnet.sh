#!/usr/bin/env bash
# Reproduces models/t3d_tiny.* and the ablation tables of docs/classifier.md (`make model`).
# Stage 0 teacher (PointNet++ SSG, ~285 MFLOP a cluster), the tiny model alone, stage 1 tiny + NetAug
# (with and without outlier exposure), stage 2 NetAug + distillation from the teacher (the shipped model:
# from stage 1 without outlier exposure, distilling only the clusters the teacher labels right; stage 3: that model
# fine-tuned with mirrored clusters, --mirror 0.5); then for every
# model: eval on the simulated test set (and the KITTI objects when KITTI is there: evaluation only),
# export with calibration on the *simulated* validation split, and labels on real frames (bench.labels).
# Data: 400 simulated scenes x 4 sensors (train; ~119k clusters incl. ~3.9k outliers), disjoint seeds
# for val and test (the test split is that of --sim-seeds 200 for every model: `eval`'s default).
# Tiny models: 50 epochs of 12,000 clusters (the shipped run takes ~30 min alone on the 2-core CPU
# machine; until 2026-11-29 it was 40 epochs of 6,000 clusters from 200 scenes: 3.5 points of
# mean-class accuracy lower). Distillation is offline (the teacher's logits on the clean training clusters).
# Time on the 2-core CPU machine: ~3 h (the teacher ~60 min of it, two runs at a time); a GPU takes minutes.
# The real frames (KITTI, ODOMETRY) are never used for training, thresholds or model choice by this
# script: the shipped run is fixed below (SHIP) and the real-frame numbers are reported, not optimised.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-out/runs}
CARDS=${CARDS:-out/cards}
KITTI=${KITTI:-}          # a KITTI object root (training/velodyne, label_2, calib), optional
ODOMETRY=${ODOMETRY:-}    # a folder of unlabelled real frames, optional
SEED=${SEED:-1}            # the shipped model is seed 1 of two (the better on validation)
data="--data sim --sim-seeds 400 --n-points 128 --batch-size 32 --quiet --workers 0 --seed $SEED"
teacher_cfg=$(cat scripts/teacher_ssg.json)  # the teacher's architecture, shared with gpu_teacher.sh
# every tiny model sees its clusters turned so that the sensor lies at -x (--frame bearing: the bearing is an
# exact symmetry that the network then no longer has to learn; +5 points of mean-class in stage 1, since
# 2026-11-30). The teacher keeps the sensor frame, as the GPU teacher whose logits the shipped model used.
tiny="$data --epoch-clusters 12000 --epochs 50 --lr-step 18 --augment-strength 0.5 --frame bearing"

$PY -m t3d_ros train --model tiny_netaug --netaug $tiny --out $RUNS/tiny_netaug
$PY -m t3d_ros train --model tiny_netaug --netaug $tiny --oe-weight 0 --out $RUNS/tiny_netaug_no_oe
$PY -m t3d_ros train --model tiny $tiny --out $RUNS/tiny
$PY -m t3d_ros train --model pointnet2_ssg --model-config "$teacher_cfg" $data --epoch-clusters 6000 --epochs 10 \
    --lr-step 4 --out $RUNS/teacher_ssg
# The shipped model's teacher was trained on a GPU (scripts/gpu_teacher.sh: 40 epochs of 12,000 clusters,
# validation mean-class 0.769 against this CPU teacher's ~0.68): TEACHER=its teacher.pt or logits_*.npy.
TEACHER=${TEACHER:-$RUNS/teacher_ssg/ckpt_best.pt}
$PY -m t3d_ros train --model tiny --init $RUNS/tiny_netaug/ckpt_best.pt --teacher $RUNS/teacher_ssg/ckpt_best.pt \
    --kd-mode offline $data --epoch-clusters 12000 --epochs 30 --lr 5e-4 --lr-step 12 --augment-strength 0.5 \
    --frame bearing --out $RUNS/tiny_netaug_kd
# Stage 2 as shipped: kd_alpha 0.3, and clusters the teacher gets wrong learn from their label alone
# (plain distillation taught the student the teacher's mistakes on trucks and pedestrians: docs/classifier.md);
# the classes drawn with weight count^-0.75 (stage 1: ^-0.5), since distillation favours the common classes.
$PY -m t3d_ros train --model tiny --init $RUNS/tiny_netaug_no_oe/ckpt_best.pt --teacher "$TEACHER" --kd-mode offline \
    --kd-alpha 0.3 --kd-teacher-right --oe-weight 0 $data --epoch-clusters 12000 --epochs 30 --lr 5e-4 --lr-step 12 \
    --augment-strength 0.5 --balance 0.75 --frame bearing --out $RUNS/tiny_netaug_no_oe_kd

evals=(--data sim)
[ -n "$KITTI" ] && evals+=(--data "kitti:$KITTI" --data "kitti-objects:$KITTI")
runs=(teacher_ssg tiny tiny_netaug_no_oe tiny_netaug tiny_netaug_kd tiny_netaug_no_oe_kd)
for run in "${runs[@]}"; do
    $PY -m t3d_ros eval $RUNS/$run/ckpt_best.pt "${evals[@]}" --json $RUNS/$run/eval.json \
        --png $RUNS/$run/confusion.png > /dev/null
    # calibrated on the simulated validation split (outliers included): temperature + class thresholds
    # (the ablation in docs/classifier.md: 100 scenes, --sim-seeds 1000; the shipped card below: 200)
    $PY -m t3d_ros export $RUNS/$run/ckpt_best.pt --out $CARDS --name $run --metrics $RUNS/$run/eval.json \
        --calibrate-on sim --sim-seeds 1000 > $RUNS/$run/calibration.txt
done
# Stage 3 (shipped since 2026-11-30, night): the stage-2 model fine-tuned for 10 epochs with every other
# training cluster mirrored (y -> -y in the sensor frame: streets where traffic keeps left; the simulator's keeps
# right). Both seeds beat stage 2 on the simulated test set, and on the mirrored test set by more (docs/classifier.md).
$PY -m t3d_ros train --finetune $CARDS/tiny_netaug_no_oe_kd.json $data --epoch-clusters 12000 --epochs 10 \
    --balance 0.75 --oe-weight 0 --mirror 0.5 --out $RUNS/tiny_mirror_ft
$PY -m t3d_ros eval $RUNS/tiny_mirror_ft/ckpt_best.pt "${evals[@]}" --json $RUNS/tiny_mirror_ft/eval.json > /dev/null
# The shipped model: stage 2 from stage 1 without outlier exposure (which with this schedule beats the run
# with it), distilled from the GPU teacher, only where the teacher is right, with more class balance, in the
# bearing frame (both stages), then stage 3 (mirrored): each beat the model before it on the simulated test set
# for two seeds (the shipped runs are seed 1's, the better on validation, SEED above; docs/classifier.md). The
# outliers stay in the calibration split: thresholds are chosen so that a label on one counts as wrong. 200
# validation scenes (--sim-seeds 2000): with 100 the road users' thresholds swing by 0.2 between resamples.
SHIP=${SHIP:-tiny_mirror_ft}
$PY -m t3d_ros export $RUNS/$SHIP/ckpt_best.pt --out models --name t3d_tiny --metrics $RUNS/$SHIP/eval.json \
    --calibrate-on sim --sim-seeds 2000
# Since 2026-12-01 the shipped weights are stage 3 (as shipped on 2026-11-30, trained before the simulator's glossy
# paint and glass) fine-tuned once more with stage 3's settings on the glossy simulator, seed 2 of 3 (the rule above):
#   train --finetune models/t3d_tiny.json (commit 7d7eaa6) ... --mirror 0.5 --seed 2; the card's training.command.
# Since 2026-12-01 (evening) those weights fine-tuned once more with the same settings and whole scan rows dropped from
# half the training clusters, seed 2 of 3 (the rule above; docs/classifier.md, "Whole rows lost in training"):
#   train --finetune models/t3d_tiny.json (commit d285e21) ... --mirror 0.5 --row-loss 0.5 --seed 2; the card's training.command.
# Since 2026-12-01 (late evening) the card samples each cluster from its point farthest from its centroid (input.start
# "far", the same weights, recalibrated: calibrate models/t3d_tiny.json --data sim --sim-seeds 2000); the stages
# above sample from the first point, as they were trained (train --fps-start far trains for the far start).
# A run of this script on today's simulator trains every stage on it instead.
$PY -m t3d_ros eval models/t3d_tiny.json "${evals[@]}" --json models/t3d_tiny_eval.json --png docs/confusion_t3d_tiny.png
$PY scripts/ablation_table.py "teacher PointNet++ SSG=$RUNS/teacher_ssg/eval.json" "tiny=$RUNS/tiny/eval.json" \
    "tiny + NetAug, no outlier exposure=$RUNS/tiny_netaug_no_oe/eval.json" \
    "tiny + NetAug=$RUNS/tiny_netaug/eval.json" "tiny + NetAug + KD=$RUNS/tiny_netaug_kd/eval.json" \
    "tiny + NetAug, no outlier exposure + KD where the teacher is right=$RUNS/tiny_netaug_no_oe_kd/eval.json" \
    --out benchmarks/results/classifier.md
if [ -n "$KITTI" ]; then  # labels on real frames, every model as the node runs it
    real=(--kitti "$KITTI")
    [ -n "$ODOMETRY" ] && real+=(--odometry "$ODOMETRY")
    models=()
    for run in "${runs[@]}"; do models+=("$run=$CARDS/$run.json"); done
    $PY -m t3d_ros.bench.labels --models "${models[@]}" "${real[@]}" --out benchmarks/results/labels_ablation
fi
