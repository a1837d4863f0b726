#!/usr/bin/env bash
# Pack what an offline GPU machine needs to synthesize scenes and train there (tools/gpu_train.sh),
# into .kit/ (git-ignored; about 19 MB):
#   .kit/whl/    Python 3.12 x86-64 wheels of what a stock CUDA PyTorch image lacks: ultralytics
#                and albumentations with their small dependencies (versions from uv.lock)
#   .kit/stub/   a polars stand-in (polars' 54-MB runtime wheel is too big to carry; ultralytics
#                only reads results.csv back with it, and its plots are off in gpu_train.sh)
#   .kit/mnist/  the MNIST files (MNIST_DIR, default ../shared/mnist)
#   .kit/fonts/  the training configs' handwriting fonts, cut down to the digits and the words'
#                letters (synth-words.yaml writes words in them), under their
#                /usr/share/fonts paths (`make fonts` installs them here first)
#   .kit/photos/ photos with no digits, for background scenes (`digitdet negatives`): the files in
#                PHOTOS (a folder) if set, else the 20 scikit-image photos stage 15 used when .venv
#                has scikit-image (`uv pip install scikit-image`; 5 MB), else none
# Usage: bash tools/gpu_kit.sh   (needs the package registry and `make setup`'s .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
MNIST_DIR=${MNIST_DIR:-../shared/mnist}
KIT=.kit
rm -rf "$KIT" && mkdir -p "$KIT/whl" "$KIT/stub/polars" "$KIT/mnist" "$KIT/fonts"

version() {  # the locked version of package $1
  awk -v n="name = \"$1\"" '$0 == n {getline; gsub(/version = |"/, ""); print; exit}' uv.lock
}
specs=()
for name in ultralytics ultralytics-thop ultralytics-platform albumentations albucore stringzilla \
    simsimd pydantic pydantic-core annotated-types typing-inspection; do
  v=$(version "$name")
  [ -n "$v" ] || { echo "gpu_kit: $name is not in uv.lock" >&2; exit 2; }
  specs+=("$name==$v")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$KIT/whl" "${specs[@]}"

cat > "$KIT/stub/polars/__init__.py" <<'EOF'
"""Stand-in for polars on a machine without it: ultralytics' trainer reads results.csv back
through polars.read_csv inside a try (an error gives an empty dict); nothing else is used with
plots off."""


def read_csv(*args, **kwargs):
    raise NotImplementedError("polars is not installed (digitdet GPU kit stand-in)")
EOF

cp "$MNIST_DIR"/*.gz "$KIT/mnist/"

# every font file the synthesis configs name (resolved as synthesis resolves them), cut down to
# the digits and the letters of the synthesizer's words (synth-words.yaml writes words in them)
.venv/bin/python - "$KIT/fonts" <<'EOF'
import shutil, sys
from pathlib import Path

import numpy as np
import yaml
from fontTools import subset
from PIL import ImageFont

from digitdet.synth.glyphs import FONT_DIR, font_glyph, resolve_fonts
from digitdet.synth.scene import WORDS

out = Path(sys.argv[1])
words = WORDS + tuple(w.lower() for w in WORDS)


def draws(path: str) -> list[tuple[tuple[int, int], bytes]]:
    """Every word drawn by the font at ``path`` at 7 sizes: each font size loaded once."""
    fonts = [ImageFont.truetype(path, size) for size in (13, 17, 29, 40, 63, 90, 131)]
    return [(m.size, bytes(m)) for f in fonts for m in (f.getmask(w) for w in words)]


patterns = set()
for cfg in Path("configs").glob("synth*.yaml"):
    patterns.update(yaml.safe_load(cfg.read_text()).get("fonts") or [])
try:
    paths = resolve_fonts(tuple(patterns))
except ValueError as exc:
    sys.exit(f"gpu_kit: {exc} (run 'make fonts')")
whole = 0
for path in paths:
    dest = out / Path(path).relative_to(FONT_DIR)
    dest.parent.mkdir(parents=True, exist_ok=True)
    opts = subset.Options()
    opts.notdef_outline = True
    opts.drop_tables += ["gasp"]  # rendering hints only; one training font's is malformed
    opts.layout_features = ["*"]  # kerning, ligatures, contextual forms: words drawn as before
    font = subset.load_font(path, opts)
    sub = subset.Subsetter(opts)
    sub.populate(text="0123456789 " + "".join(words))
    sub.subset(font)
    subset.save_font(font, str(dest), opts)
    if (any(not np.array_equal(font_glyph(path, d).crop, font_glyph(str(dest), d).crop)
            for d in range(10)) or draws(path) != draws(str(dest))):
        # some fonts draw otherwise cut down (kerning, ligatures): carry them whole
        shutil.copyfile(path, dest)
        whole += 1
n = len(paths)
print(f"gpu_kit: {n} font files, {n - whole} cut to 0-9 and the words' letters (each digit and word drawn as before), {whole} whole")
EOF
# photos with no digits: gpu_train.sh cuts background scenes from them (stage 15's negatives)
SKIMAGE_PHOTOS="astronaut.png brick.png camera.png cell.png chelsea.png coffee.png coins.png grass.png
  gravel.png horse.png hubble_deep_field.jpg ihc.png microaneurysms.png moon.png motorcycle_left.png
  motorcycle_right.png retina.jpg rocket.jpg color.png logo.png"
mkdir -p "$KIT/photos"
if [ -n "${PHOTOS:-}" ]; then
  cp "$PHOTOS"/* "$KIT/photos/"
elif sk=$(.venv/bin/python -c "import pathlib, skimage; print(pathlib.Path(skimage.__file__).parent / 'data')" 2>/dev/null); then
  for f in $SKIMAGE_PHOTOS; do cp "$sk/$f" "$KIT/photos/"; done
else
  rmdir "$KIT/photos"
  echo "gpu_kit: no photos (set PHOTOS=folder, or uv pip install scikit-image): no background scenes"
fi

du -sh "$KIT"/* && echo "gpu_kit: carry .kit (with the repo) and run tools/gpu_train.sh there"
