#!/usr/bin/env bash
# Resource table of every CUDA kernel: compiles each kernels/*/*.cu for one architecture (sm_90 by
# default) with `nvcc -Xptxas -v` and prints, per kernel: registers, spill stores and loads
# (bytes), stack frame and static shared memory (bytes), with demangled names. Exits 1 if any
# kernel spills, 2 if nvcc or a compile fails. Needs nvcc and c++filt, no GPU.
#   profiling/resource_table.sh                 all kernels, sm_90
#   ARCH=sm_80 profiling/resource_table.sh      another architecture
#   profiling/resource_table.sh kernels/conv2d/conv2d.cu ...   only these sources
#   JOBS=2 profiling/resource_table.sh          compile two sources at a time
# Depends on: the kernel sources (kernels/*/*.cu), nvcc (PATH or /usr/local/cuda/bin), c++filt.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${ARCH:-sm_90}
JOBS=${JOBS:-1}
export PATH="$PATH:/usr/local/cuda/bin"
command -v nvcc >/dev/null || { echo "resource_table: nvcc not found" >&2; exit 2; }
command -v c++filt >/dev/null || { echo "resource_table: c++filt not found" >&2; exit 2; }

if [ $# -gt 0 ]; then sources=("$@"); else mapfile -t sources < <(ls kernels/*/*.cu | grep -v '^kernels/simt/'); fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One ptxas log per source, compiled in parallel (JOBS at a time), same flags as the CMake build.
compile() {
  local src=$1 tmp=$2 arch=$3
  local log="$tmp/$(echo "$src" | tr '/' '_').log"
  if ! nvcc -std=c++17 -I. --expt-relaxed-constexpr -arch="$arch" -Xptxas -v -c "$src" -o "$tmp/$(basename "$src").o" \
       >"$log" 2>&1; then
    echo "resource_table: $src failed to compile:" >&2
    cat "$log" >&2
    return 1
  fi
}
export -f compile
printf '%s\n' "${sources[@]}" | xargs -P "$JOBS" -I{} bash -c 'compile "$1" "$2" "$3"' _ {} "$tmp" "$ARCH" || exit 2

# ptxas -v prints, per entry function:
#   ptxas info    : Compiling entry function '_Z...' for 'sm_90'
#   ptxas info    : Function properties for _Z...
#       0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
#   ptxas info    : Used 63 registers, used 1 barriers, 18176 bytes smem
rows="$tmp/rows.tsv"
: >"$rows"
for src in "${sources[@]}"; do
  log="$tmp/$(echo "$src" | tr '/' '_').log"
  awk -v src="$src" '
    /Compiling entry function/ { match($0, /'"'"'[^'"'"']+'"'"'/); fn = substr($0, RSTART + 1, RLENGTH - 2); entry = 1; next }
    /Function properties for/ { if (!entry) fn = ""; next }
    /bytes stack frame/ && fn != "" { stack = $1; st = $5; ld = $9; next }
    /Used [0-9]+ registers/ && fn != "" {
      regs = $0; sub(/.*Used /, "", regs); sub(/ registers.*/, "", regs)
      smem = 0; if (match($0, /[0-9]+ bytes smem/)) { smem = substr($0, RSTART, RLENGTH); sub(/ bytes smem/, "", smem) }
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", src, fn, regs, st, ld, stack, smem
      fn = ""; entry = 0
    }' "$log" >>"$rows"
done

spills=0
printf '%-34s %-78s %5s %7s %7s %6s %11s\n' "source ($ARCH)" "kernel" "regs" "spill_st" "spill_ld" "stack" "static_smem"
while IFS=$'\t' read -r src fn regs st ld stack smem; do
  name=$(echo "$fn" | c++filt | sed -E 's/^void //; s/\(.*$//')
  printf '%-34s %-78s %5s %7s %7s %6s %11s\n' "$src" "$name" "$regs" "$st" "$ld" "$stack" "$smem"
  if [ "$st" != 0 ] || [ "$ld" != 0 ]; then spills=$((spills + 1)); fi
done < <(sort -t$'\t' -k1,1 -k2,2 "$rows")
n=$(wc -l <"$rows")
if [ "$spills" -gt 0 ]; then
  echo "resource_table: $spills of $n kernels spill registers" >&2
  exit 1
fi
echo "resource_table: $n kernels, none spills"
