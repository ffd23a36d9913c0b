#!/usr/bin/env bash
# The v4 reference models (models/reference-v4/), end to end: scenes written once by the
# project's generator; the guided classifier, its unguided twin, the segmenter and a box detector trained in
# PyTorch (Debian's python3-torch); exported to ONNX, measured on every split, recorded for the
# committed-model test. Each epoch's rate is in the training logs; the whole was never timed on a
# quiet machine. Every choice uses the validation splits only; test, varied-test and shifted are
# measured, never chosen on.
#   DATA=<scratch folder> (default ../.scratch/scenes)  OUT=<models folder> (default ../models/reference-v4)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd .. && pwd)
DATA=${DATA:-$ROOT/.scratch/scenes}
OUT=${OUT:-$ROOT/models/reference-v4}
RUNS=${RUNS:-$ROOT/.scratch/runs-v4}
PY=${OVERMAP_PYTHON:-/usr/bin/python3}
scenes() { # split count [start]
  [ -d "$DATA/$1" ] && [ "$(find "$DATA/$1" -name '*.png' | wc -l)" -ge "$2" ] && return
  (cd "$ROOT" && npm run -s make:scenes -- "$DATA/$1" --split "$1" --count "$2" --start "${3:-0}" --masks)
}
scenes varied-train 30000; scenes train 10000; scenes varied-val 2000; scenes val 1000
scenes varied-test 1000; scenes test 1000; scenes shifted 1000

$PY -m overmap_train classifier --train "$DATA/varied-train,$DATA/train" --val "$DATA/varied-val,$DATA/val" \
  --out "$RUNS" --epochs 5 --widths 24,48,96,160 --guidance 1 --name classifier
$PY -m overmap_train classifier --train "$DATA/varied-train,$DATA/train" --val "$DATA/varied-val,$DATA/val" \
  --out "$RUNS" --epochs 5 --widths 24,48,96,160 --guidance 0 --name classifier-unguided
$PY -m overmap_train segmenter --train "$DATA/varied-train" --val "$DATA/varied-val" \
  --out "$RUNS" --epochs 3 --limit 15000 --widths 12,24,48,96 --name segmenter

mkdir -p "$OUT/classifier" "$OUT/classifier-unguided" "$OUT/segmenter"
for c in classifier classifier-unguided; do
  $PY -m overmap_train export --kind classifier --widths 24,48,96,160 --checkpoint "$RUNS/$c.pt" --onnx "$OUT/$c/model.onnx"
  $PY -m overmap_train evaluate --kind classifier --widths 24,48,96,160 --checkpoint "$RUNS/$c.pt" \
    --onnx "$OUT/$c/model.onnx" --record "$OUT/metrics-$c.json" \
    --data "$DATA/val,$DATA/varied-val,$DATA/test,$DATA/varied-test,$DATA/shifted"
  cp "$RUNS/training-log-$c.json" "$OUT/"
done
$PY -m overmap_train export --kind segmenter --widths 12,24,48,96 --checkpoint "$RUNS/segmenter.pt" --onnx "$OUT/segmenter/model.onnx"
$PY -m overmap_train evaluate --kind segmenter --widths 12,24,48,96 --checkpoint "$RUNS/segmenter.pt" \
  --onnx "$OUT/segmenter/model.onnx" --record "$OUT/metrics-segmenter.json" \
  --data "$DATA/varied-val,$DATA/test,$DATA/varied-test,$DATA/shifted"
cp "$RUNS/training-log-segmenter.json" "$OUT/"

# The second segmentation source (the paper uses Mask R-CNN's boxes): a single-object box regressor,
# its box binarised into the mask by the worker's `detector` segmenter (overmap-model-detector.json).
$PY -m overmap_train detector --train "$DATA/varied-train" --val "$DATA/varied-val,$DATA/val" \
  --out "$RUNS" --epochs 8 --limit 16000 --lr 0.05 --weight-decay 1e-4 --widths 16,32,64,128 --threads 1 --name detector
mkdir -p "$OUT/detector"
$PY -m overmap_train export --kind detector --widths 16,32,64,128 --checkpoint "$RUNS/detector.pt" --onnx "$OUT/detector/model.onnx"
$PY -m overmap_train evaluate --kind detector --widths 16,32,64,128 --checkpoint "$RUNS/detector.pt" \
  --onnx "$OUT/detector/model.onnx" --record "$OUT/metrics-detector.json" \
  --data "$DATA/varied-val,$DATA/test,$DATA/varied-test,$DATA/shifted"
cp "$RUNS/training-log-detector.json" "$OUT/"
