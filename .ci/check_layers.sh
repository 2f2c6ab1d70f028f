#!/usr/bin/env bash
# The layering check (issue 13): evsam's includes point down the layers, never up.
#
#   0 core      include/evsam/core/       tensor, file io, checkpoint readers, npy, images
#   1 backend   include/evsam/backend/    policy tags, tolerance table, CUDA runtime
#   2 ops       include/evsam/ops/        <op>_forward: naive + fast, cpu + cuda
#   3 nn        include/evsam/nn/         Module, parameter visiting, load_state_dict, layers
#   4 models    include/evsam/efficientvit/, include/evsam/sam/   (one folder per model family)
#   5 registry  include/evsam/registry.hpp, config_json.hpp, open_model.hpp (every family's models by name, or from JSON;
#                                                                     a checkpoint opened as one)
#   6 apps      include/evsam/predictor.hpp, amg.hpp, viz.hpp, cls_seg.hpp, class_tables.hpp, model_input.hpp,
#               coco_mask.hpp, sam_eval.hpp
#   7 umbrella  include/evsam/evsam.hpp, evsam_cuda.cuh
#   8 tool      examples/cli/, and the Python extension python/src/ (beside the tool, never below it)
#
# A file may include its own layer or any layer below it. Every include that points up is reported
# as file:line with both layers, and the check fails. Also checked: headers under include/ include
# nothing from outside include/ (quoted includes must be "evsam/..."), and every C++ header under
# include/ compiles on its own (it includes what it uses; SKIP_STANDALONE=1 skips that part).
set -uo pipefail
cd "$(dirname "$0")/.."

layer_of() {  # path -> rank, or -1 when the file is in no layer
  case "$1" in
    include/evsam/core/*) echo 0 ;;
    include/evsam/backend/*) echo 1 ;;
    include/evsam/ops/*) echo 2 ;;
    include/evsam/nn/*) echo 3 ;;
    include/evsam/efficientvit/* | include/evsam/sam/*) echo 4 ;;
    include/evsam/registry.hpp | include/evsam/config_json.hpp | include/evsam/open_model.hpp) echo 5 ;;
    include/evsam/predictor.hpp | include/evsam/amg.hpp | include/evsam/viz.hpp | include/evsam/cls_seg.hpp | include/evsam/class_tables.hpp | include/evsam/model_input.hpp | include/evsam/coco_mask.hpp | include/evsam/sam_eval.hpp) echo 6 ;;
    include/evsam/evsam.hpp | include/evsam/evsam_cuda.cuh) echo 7 ;;
    examples/cli/* | python/src/*) echo 8 ;;
    *) echo -1 ;;
  esac
}
names=(core backend ops nn models registry apps umbrella tool)

bad=0 checked=0
files=$(git ls-files 'include/evsam/*' 'examples/cli/*' 'python/src/*' | grep -E '\.(hpp|h|cuh|cpp|cu)$')
for f in $files; do
  from=$(layer_of "$f")
  if [[ $from -lt 0 ]]; then
    echo "check_layers: $f is in no layer (add it to .ci/check_layers.sh)" >&2
    bad=$((bad + 1))
    continue
  fi
  while IFS=: read -r line inc; do
    [[ -z "$line" ]] && continue
    checked=$((checked + 1))
    target=""
    if [[ "$inc" == evsam/* ]]; then
      target="include/$inc"
    elif [[ "$f" == include/* ]]; then
      echo "$f:$line: includes \"$inc\", which is not under include/evsam (installed headers include only evsam/...)"
      bad=$((bad + 1))
      continue
    else
      target="$(dirname "$f")/$inc"  # the tool's own headers
    fi
    if [[ ! -e "$target" ]]; then
      echo "$f:$line: includes \"$inc\", which does not exist"
      bad=$((bad + 1))
      continue
    fi
    to=$(layer_of "$target")
    if [[ $to -gt $from ]]; then
      echo "$f:$line: includes $inc: ${names[$from]} (layer $from) must not include ${names[$to]} (layer $to)"
      bad=$((bad + 1))
    fi
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]evsam/|^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
           sed -E 's/^([0-9]+):[^<"]*[<"]([^>"]+)[>"].*/\1:\2/')
done

# Every C++ header under include/ on its own (the .cuh files need nvcc: .ci/cuda.sh builds them).
standalone=0
if [[ "${SKIP_STANDALONE:-0}" != 1 ]]; then
  CXX=${CXX:-g++}
  EIGEN=$(pkg-config --cflags eigen3 2>/dev/null || echo -I/usr/include/eigen3)
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  hdrs=$(git ls-files 'include/evsam/*.hpp')
  for h in $hdrs; do echo "$h"; done |
    xargs -P "${CHECK_JOBS:-2}" -I{} bash -c '
      h={}; src="$0/$(echo "$h" | tr / _).cpp"
      printf "#include <%s>\n#include <%s>\n" "${h#include/}" "${h#include/}" >"$src"  # twice: include guards too
      '"$CXX"' -std=c++17 -fopenmp -fsyntax-only -Wall -Wextra -Iinclude '"$EIGEN"' "$src" 2>"$src.err" ||
        { echo "$h: does not compile on its own:"; head -5 "$src.err"; exit 255; }' "$tmp" || bad=$((bad + 1))
  standalone=$(echo "$hdrs" | wc -w)
fi

echo "check_layers: $(echo "$files" | wc -w) files, $checked includes checked, $standalone headers compiled on their own, $bad problems"
[[ $bad -eq 0 ]]
