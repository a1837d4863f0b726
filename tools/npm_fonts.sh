#!/usr/bin/env bash
# Fetch 55 Google handwriting fonts from npm (@fontsource packages, OFL or Apache licensed) into
# DIR (default /usr/share/fonts/truetype/fontsource): each package's Latin regular .woff, which
# FreeType (PIL, OpenCV's loaders) reads as it reads a .ttf. 19 of them are held out for
# val --fonts (digitdet.fontset.NPM_HELD_OUT); configs/synth-npmfonts.yaml trains on the rest.
#   bash tools/npm_fonts.sh [DIR]      (make fonts runs it)
set -euo pipefail
dir="${1:-/usr/share/fonts/truetype/fontsource}"
VERSION=5.3.0  # every package's version when the split was made (their files change between versions)
names="amatic-sc annie-use-your-telescope architects-daughter bad-script caveat-brush caveat
cedarville-cursive coming-soon covered-by-your-grace dawning-of-a-new-day delius
edu-nsw-act-foundation edu-qld-beginner edu-sa-beginner edu-tas-beginner edu-vic-wa-nt-beginner
gaegu give-you-glory gloria-hallelujah gochi-hand grape-nuts handlee homemade-apple indie-flower
itim just-another-hand kalam la-belle-aurore loved-by-the-king mali marck-script mynerve
nanum-brush-script nanum-pen-script neucha nothing-you-could-do over-the-rainbow pangolin
patrick-hand permanent-marker playpen-sans reenie-beanie rock-salt sacramento satisfy schoolbell
shadows-into-light short-stack sriracha sue-ellen-francisco swanky-and-moo-moo
the-girl-next-door waiting-for-the-sunrise yellowtail zeyada"
command -v npm >/dev/null || { echo "npm_fonts.sh: error: npm not found (apt install npm)" >&2; exit 2; }
mkdir -p "$dir"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
n=0
for name in $names; do
  file="$name-latin-400-normal.woff"
  [ -s "$dir/$file" ] && { n=$((n + 1)); continue; }
  tgz="$(cd "$tmp" && npm pack --silent "@fontsource/$name@$VERSION" | tail -1)"
  tar xzf "$tmp/$tgz" -C "$tmp" "package/files/$file"
  cp "$tmp/package/files/$file" "$dir/$file"
  n=$((n + 1))
done
echo "npm handwriting fonts in $dir: $n"
