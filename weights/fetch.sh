#!/usr/bin/env bash
# Fetches official EfficientViT-SAM checkpoints into weights/ if they are absent.
#   bash weights/fetch.sh [l0 l1 l2 xl0 xl1]      (default: l0)
# With no network it says which URL to download and where to put the file, and exits 1.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
base="https://huggingface.co/mit-han-lab/efficientvit-sam/resolve/main"
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(l0)
status=0
for m in "${models[@]}"; do
  case "$m" in l0|l1|l2|xl0|xl1) ;; *) echo "fetch: unknown model '$m' (l0 l1 l2 xl0 xl1)" >&2; exit 2;; esac
  file="efficientvit_sam_${m}.pt"
  dest="$here/$file"
  url="$base/$file"
  if [ -s "$dest" ]; then
    echo "fetch: $dest present"
    continue
  fi
  tmp="$dest.part.$$"
  ok=1
  if command -v curl >/dev/null 2>&1; then
    curl -fL --connect-timeout 15 --retry 2 -o "$tmp" "$url" 2>/dev/null || ok=0
  elif command -v wget >/dev/null 2>&1; then
    wget -q --timeout=15 -O "$tmp" "$url" || ok=0
  else
    ok=0
  fi
  if [ $ok = 1 ] && [ -s "$tmp" ]; then
    mv "$tmp" "$dest" && echo "fetch: downloaded $dest"
  else
    rm -f "$tmp"
    echo "fetch: could not download $url" >&2
    echo "fetch: download it by hand and put it at $dest" >&2
    status=1
  fi
done
exit $status
