#!/usr/bin/env bash
# Fine-tune on an offline CUDA machine in one go: install the kit that tools/gpu_kit.sh packed into
# .kit/, synthesize a fresh scene mix there (stage 11's proportions: plain, hard, Hershey, style,
# paint, font and narrow scenes; half of the plain ones from configs/synth-blur.yaml, blurred
# more and harder, the weakness `python -m digitdet.robustset` found, a sixth from
# configs/synth-roll.yaml, photos turned up to 15 degrees, and a sixth from configs/synth-slant.yaml,
# photos at a strong slant; plain upright 1s (configs/synth-sticks.yaml) and crossed 7s
# (configs/synth-cross7.yaml), as stages 13-16; and when the kit has photos, 1,000 background
# scenes cut from them, `digitdet negatives`, as stage 15, beside 1,200 stick-1 scenes, as stage
# 16: posts and bars in the photos otherwise cost the plain 1s; words written beside the numbers
# (configs/synth-words.yaml, the weakness `val --fonts`' word lines found) and numbers in printed
# comb fields (configs/synth-cells.yaml)), train with the time budget, and copy the weights out.
# Run from the repository root, with .kit/ beside it, on a machine whose python3 has a CUDA torch
# and torchvision (opencv, scipy, pyyaml, tqdm, pillow too):
#   OUT=/somewhere TIME=0.1 bash tools/gpu_train.sh   (estimated 9-10 minutes on 16 cores; not yet run there)
# Settings (environment, defaults in brackets):
#   PY [python3]   TIME [0.1] hours of training   IMGSZ [640]   BATCH [64]   DEVICE [0]
#   WEIGHTS [src/digitdet/weights/digitdet-v5n.pt] the model fine-tuned (MODEL names the architecture
#   when WEIGHTS is empty: training from scratch)   CFG [configs/finetune-mix.yaml]
#   SCALE [1] scene counts x SCALE (1: 13,600 scenes and the photos' 1,000)   SEED [201] first
#   synthesis seed (15 used)
#   WORKERS [nproc] synthesis and data-loader processes   OUT [runs/gpu] where the results go
#   AMP [false] mixed precision (true: ultralytics first tries to download a model for its AMP check;
#   offline that fails as a ConnectionError, which it catches, and trains with AMP)
#   SKIP_INSTALL [empty] set to use PY's own packages; a dry run on a CPU machine (about 2 minutes):
#   PY=.venv/bin/python SKIP_INSTALL=1 DEVICE=cpu TIME=0.005 SCALE=0.004 IMGSZ=160 BATCH=8 OUT=/tmp/g \
#     bash tools/gpu_train.sh
# OUT gets best.pt and last.pt (split into 15-MB parts when bigger: `cat best.pt.part-* > best.pt`),
# results.csv and log.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}; TIME=${TIME:-0.1}; IMGSZ=${IMGSZ:-640}; BATCH=${BATCH:-64}; DEVICE=${DEVICE:-0}
WEIGHTS=${WEIGHTS-src/digitdet/weights/digitdet-v5n.pt}; MODEL=${MODEL:-yolov5s}
CFG=${CFG:-configs/finetune-mix.yaml}; SCALE=${SCALE:-1}; SEED=${SEED:-201}
WORKERS=${WORKERS:-$(nproc)}; OUT=${OUT:-runs/gpu}; KIT=.kit
[ -d "$KIT/mnist" ] || { echo "gpu_train: no $KIT/ here: run tools/gpu_kit.sh first and carry .kit" >&2; exit 2; }
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
t0=$(date +%s)
say() { echo "gpu_train: $(( $(date +%s) - t0 )) s: $*"; }

if [ -z "${SKIP_INSTALL:-}" ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$KIT"/whl/*.whl
  export PYTHONPATH=/tmp/site
  mkdir -p /usr/share/fonts && cp -rn "$KIT/fonts/." /usr/share/fonts/  # the configs' font paths
fi
# src for digitdet; the polars stand-in last, so a real polars wins where there is one
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}:$PWD/$KIT/stub
export YOLO_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 PYTHONUNBUFFERED=1  # offline: no update checks
"$PY" -c "import torch, ultralytics, albumentations; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'ultralytics', ultralytics.__version__)"
say "installed"

n() { awk -v c="$1" -v s="$SCALE" 'BEGIN { n = int(c * s + 0.5); print (n < 1 ? 1 : n) }'; }
data=runs/gpu-data; rm -rf "$data"; mkdir -p "$data"; train=()
s=$SEED
for spec in synth:500 synth-roll:500 synth-slant:500 synth-blur:1500 synth-hard:1200 synth-hershey:600 synth-style:600 synth-paint:1800 \
    synth-fonts:2100 synth-narrow:700 synth-sticks:1200 synth-cross7:600 synth-words:1200 synth-cells:600; do
  cfg=${spec%%:*}; count=$(n "${spec##*:}")
  "$PY" -m digitdet.synth --mnist-dir "$KIT/mnist" --config "configs/$cfg.yaml" --seed "$s" \
    --out "$data/$cfg-s$s" --data "$data/$cfg-s$s.yaml" --scenes "train=$count" val=0 test=0 \
    --workers "$WORKERS" | tail -1
  train+=("$cfg-s$s/images/train"); s=$((s + 1))
done
if [ -d "$KIT/photos" ]; then  # photos with no digits as background (stages 15-16: phantom digits 142 -> 48)
  "$PY" -m digitdet.negatives --photos "$KIT/photos" --out "$data/natneg" --scenes "$(n 1000)" --seed "$s" | tail -1
  train+=("natneg/images/train")
fi
"$PY" -m digitdet.synth --mnist-dir "$KIT/mnist" --seed 3 --out "$data/val-s3" --data "$data/val.yaml" \
  --scenes train=0 val=400 test=0 --workers "$WORKERS" | tail -1  # the seed-3 val scenes
{ echo "path: $PWD/$data"; echo "train:"; printf '  - %s\n' "${train[@]}"
  echo "val: val-s3/images/val"; echo "names: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']"
} > "$data/mix.yaml"
say "synthesized $(find "$data" -path '*/images/*' -type f | wc -l) images"

"$PY" -m digitdet.train --cfg "$CFG" --data "$data/mix.yaml" ${WEIGHTS:+--weights "$WEIGHTS"} \
  --model "$MODEL" --imgsz "$IMGSZ" --device "$DEVICE" --time "$TIME" --epochs 300 --batch "$BATCH" \
  --workers "$WORKERS" --name gpu --exist-ok --set plots=false save_period=-1 "amp=${AMP:-false}"
say "trained"

run=runs/train/gpu
cp "$run/results.csv" "$OUT/"
for f in best.pt last.pt; do
  if [ "$(stat -c %s "$run/weights/$f")" -gt 15000000 ]; then
    split -b 15000000 -d "$run/weights/$f" "$OUT/$f.part-"
  else
    cp "$run/weights/$f" "$OUT/"
  fi
done
say "weights in $OUT: $(ls "$OUT" | tr '\n' ' ')"
exec >&- 2>&-; sleep 1  # let tee finish log.txt before OUT is collected
