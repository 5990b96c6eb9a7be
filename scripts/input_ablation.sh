#!/usr/bin/env bash
# Input-representation ablation of docs/classifier.md (issue 3): the tiny model alone, same data and schedule
# as `tiny` in train_t3dnet.sh, with (a) metric coordinates + extent/log-count/range features (the
# shipped choice, run `tiny` there), (b) metric coordinates only, (c) coordinates rescaled to the unit
# sphere (the usual ModelNet recipe; the size is lost), (d) metric + features + intensity and height.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-out/runs}
KITTI=${KITTI:-../shared/data/kitti}
data="--data sim --sim-seeds 100 --n-points 128 --batch-size 32 --epoch-clusters 6000 --quiet"
common="--model tiny $data --epochs 40 --lr-step 15 --augment-strength 0.5"

$PY -m t3d_ros train $common --global-features "" --out $RUNS/tiny_metric_only
$PY -m t3d_ros train $common --global-features "" --scale unit_sphere --out $RUNS/tiny_unit_sphere
$PY -m t3d_ros train $common --point-features intensity,height --out $RUNS/tiny_intensity_height

evals=(--data sim)
[ -d "$KITTI/training" ] && evals+=(--data "kitti:$KITTI" --data "kitti-objects:$KITTI")
for run in tiny_metric_only tiny_unit_sphere tiny_intensity_height; do
    $PY -m t3d_ros eval $RUNS/$run/ckpt_best.pt "${evals[@]}" --json $RUNS/$run/eval.json > /dev/null
done
$PY scripts/ablation_table.py "metric + extent, log-count, range (shipped)=$RUNS/tiny/eval.json" \
    "metric only=$RUNS/tiny_metric_only/eval.json" "unit sphere=$RUNS/tiny_unit_sphere/eval.json" \
    "metric + features + intensity, height=$RUNS/tiny_intensity_height/eval.json" \
    --out benchmarks/results/input_ablation.md
