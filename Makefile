# digitdet — every target creates or updates the environment it needs first.
SHELL := /bin/bash
PY := .venv/bin/python
UV := $(shell command -v uv 2>/dev/null || echo .venv-uv/bin/uv)
STAMP := .venv/.synced
MNIST_DIR ?= $(if $(DIGITDET_MNIST_DIR),$(DIGITDET_MNIST_DIR),$(if $(wildcard ../shared/mnist),../shared/mnist,))
MNIST_FLAG := $(if $(MNIST_DIR),--mnist-dir $(MNIST_DIR),)

MODEL ?= $(if $(filter cpu,$(DEVICE)),yolov5n,yolov5s)
IMGSZ ?=
EPOCHS ?=
TIME ?=
BATCH ?=
DEVICE ?= cpu
# empty IMGSZ: train at the config's imgsz; export/ship write the weights' training size into the ONNX
IMGSZ_FLAG = $(if $(IMGSZ),--imgsz $(IMGSZ))
NAME ?= exp
RESUME ?=
WEIGHTS ?=
# extra ultralytics settings for one run, e.g. SET="lr0=0.001 close_mosaic=0" (train's --set)
SET ?=
DATA ?= data/digits.yaml
CFG ?= $(if $(filter cpu,$(DEVICE)),configs/train-cpu.yaml,configs/train.yaml)
SOURCE ?= assets/samples
JUDGED = $(if $(filter %.onnx,$(WEIGHTS)),$(WEIGHTS),runs/judge/$(NAME).onnx)

.PHONY: setup fonts data samples train export ship recognizer ship-recognizer ship-blur-recognizer refiner ship-refiner detect val judge bench serve loadtest test lint clean

$(UV):
	python3 -m venv .venv-uv && .venv-uv/bin/pip install -q uv==0.13.9

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras
	@touch $(STAMP)

setup: $(STAMP)  ## install everything (runtime, training, serving, dev tools)

# Debian handwriting fonts: val --fonts' held-out set, then the ones configs/synth-fonts.yaml and
# configs/synth-paint.yaml train on (the two sets share no package)
VAL_FONTS := fonts-dkg-handwriting fonts-breip fonts-bwht fonts-femkeklaver fonts-humor-sans \
  fonts-comic-neue fonts-kaushanscript fonts-kristi fonts-dancingscript
TRAIN_FONTS := fonts-havana fonts-ecolier-court fonts-fantasque-sans fonts-klee fonts-rufscript \
  fonts-kiloji fonts-seto fonts-navilu fonts-tomsontalks fonts-tlwg-purisa-otf fonts-leckerli-one \
  fonts-lobster
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

fonts:  ## apt-install the handwriting fonts of val --fonts and of the font/paint synth configs; fetch the npm ones
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(VAL_FONTS) $(TRAIN_FONTS) >/dev/null
	@fc-list | grep -c -i -E "dkg|breip|havana|ecolier" | xargs echo "handwriting font files found:"
	$(SUDO) bash tools/npm_fonts.sh /usr/share/fonts/truetype/fontsource

data: $(STAMP)  ## synthesize the dataset into datasets/digits
	$(PY) -m digitdet.synth $(MNIST_FLAG) --workers $$(nproc)

samples: $(STAMP)  ## rebuild assets/samples from held-out MNIST digits (commit them after a synthesizer change)
	$(PY) tools/make_samples.py $(MNIST_FLAG)

datasets/digits/synth.json:
	$(MAKE) data

train: $(STAMP) datasets/digits/synth.json  ## train (MODEL IMGSZ EPOCHS TIME BATCH DEVICE NAME RESUME=1 WEIGHTS= DATA= SET=)
	$(PY) -m digitdet.train --cfg $(CFG) --data $(DATA) --model $(MODEL) $(IMGSZ_FLAG) --device $(DEVICE) \
	  --name $(NAME) $(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(TIME),--time $(TIME)) \
	  $(if $(BATCH),--batch $(BATCH)) $(if $(RESUME),--resume) $(if $(WEIGHTS),--weights $(WEIGHTS)) \
	  $(if $(SET),--set $(SET))

export: $(STAMP)  ## export WEIGHTS=.pt to ONNX and check it against PyTorch
	$(PY) -m digitdet.export --weights $(or $(WEIGHTS),runs/train/$(NAME)/weights/best.pt) $(IMGSZ_FLAG)

ship: $(STAMP)  ## make WEIGHTS=best.pt the packaged default model (.onnx + .pt)
	$(PY) -m digitdet.export --weights $(WEIGHTS) $(IMGSZ_FLAG) \
	  --output src/digitdet/weights/digitdet-v5n.onnx --image assets/samples/whiteboard.jpg
	cp $(WEIGHTS) src/digitdet/weights/digitdet-v5n.pt

# the second stage (digitdet.recognize): crops of REC_DATA's train scenes, boxes of the shipped detector
REC_DATA ?= datasets/digits
REC ?= runs/recognize/recognizer.onnx
recognizer: $(STAMP)  ## train the second-stage recognizer on REC_DATA (folders) to REC (ARGS=--per 400 --epochs 12 ...)
	$(PY) -m digitdet.recognize_train --data $(REC_DATA) --output $(REC) $(ARGS)

ship-recognizer:  ## make REC=recognizer.onnx the packaged second stage
	cp $(REC) src/digitdet/weights/digitdet-rec.onnx

ship-blur-recognizer:  ## make REC=recognizer.onnx the packaged reader of blurred images
	cp $(REC) src/digitdet/weights/digitdet-rec-blur.onnx

# the box refiner (digitdet.refine): crops of REF_DATA's train scenes, boxes of the shipped detector
REF_DATA ?= datasets/digits
REF ?= runs/refine/refiner.onnx
refiner: $(STAMP)  ## train the box refiner on REF_DATA (folders) to REF (ARGS=--per 700 --epochs 6 ...)
	$(PY) -m digitdet.refine_train --data $(REF_DATA) --output $(REF) $(ARGS)

ship-refiner:  ## make REF=refiner.onnx the packaged box refiner (and its .pt, to fine-tune from with --init)
	cp $(REF) src/digitdet/weights/digitdet-box.onnx
	if [ -f $(basename $(REF)).pt ]; then cp $(basename $(REF)).pt src/digitdet/weights/digitdet-box.pt; fi

detect: $(STAMP)  ## detect digits in SOURCE (default: the sample images)
	$(PY) -m digitdet.detect --source $(SOURCE)

val: $(STAMP) datasets/digits/synth.json  ## accuracy of the shipped (or WEIGHTS=) model on the held-out test split (ARGS=--augment ...)
	$(PY) -m digitdet.val $(MNIST_FLAG) --fonts $(if $(WEIGHTS),--weights $(WEIGHTS)) $(ARGS)

# a candidate as docs/training-log.md judges them: make val's lines, then a larger font sample
judge: $(STAMP) datasets/digits/synth.json  ## judge WEIGHTS=candidate.pt as NAME: export, make val's lines, a larger font sample (runs/val/NAME, NAME-big); ARGS to both val runs
	$(if $(WEIGHTS),,$(error judge needs WEIGHTS=candidate.pt (or .onnx)))
	$(if $(filter %.onnx,$(WEIGHTS)),,$(PY) -m digitdet.export --weights $(WEIGHTS) $(IMGSZ_FLAG) --output runs/judge/$(NAME).onnx)
	$(PY) -m digitdet.val $(MNIST_FLAG) --fonts --weights $(JUDGED) --save-json runs/val/$(NAME)/metrics.json $(ARGS)
	$(PY) -m digitdet.val --no-mnist --fonts --fonts-seed 5 --fonts-per-font 60 --limit 1 --weights $(JUDGED) \
	  --save-json runs/val/$(NAME)-big/metrics.json $(ARGS)

bench: $(STAMP) datasets/digits/synth.json  ## speed: digitdet vs ultralytics (.pt and the same ONNX) (ARGS=--frame-size 4032x3024 ...)
	$(PY) -m digitdet.bench $(ARGS)

serve: $(STAMP)  ## drawing pad and REST API on http://127.0.0.1:8000
	$(PY) -m digitdet.serve

loadtest: $(STAMP)  ## N concurrent clients against a local server: req/s, p50/p95, errors
	$(PY) -m digitdet.loadtest --clients 4 --seconds 10 --image assets/samples/pad.png

test: $(STAMP)  ## the test suite
	$(PY) -m pytest

lint: $(STAMP)  ## ruff and mypy
	$(PY) -m ruff check src tests
	$(PY) -m mypy

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
