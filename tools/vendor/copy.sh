#!/bin/sh
# Copies the browser libraries of tools/vendor/package.json (pinned in package-lock.json) into the pages'
# static folder, as plain ES modules: the pages have no build step and load nothing from a CDN.
# Run by `make vendor` after changing a version there; the copied files are committed, so installing
# Loomwork needs no npm.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../../src/loomwork/web/static/vendor"
cd "$here"
npm ci --ignore-scripts --no-audit --no-fund
rm -rf "$out/diff"
mkdir -p "$out/diff"
# jsdiff's ES module build: only its .js files (the .d.ts typings are for TypeScript).
(cd node_modules/diff/libesm && find . -name '*.js' | while read -r f; do
  mkdir -p "$out/diff/$(dirname "$f")"; cp "$f" "$out/diff/$f"; done)
cp node_modules/diff/LICENSE "$out/diff/LICENSE"
version=$(node -p "require('./node_modules/diff/package.json').version")
printf 'jsdiff (npm package "diff") %s, its libesm/ build, copied by tools/vendor/copy.sh (make vendor).\nTo update: change the version in tools/vendor/package.json, run npm install there, then make vendor.\n' "$version" > "$out/diff/VERSION"
