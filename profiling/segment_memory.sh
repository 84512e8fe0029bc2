#!/usr/bin/env bash
# Memory bound of `landcover segment` on large GeoTIFFs: generates square 3-band Byte GeoTIFFs
# (EPSG:32618, 10 m pixels) of each SIZE, segments each in window mode, and reports the maximum
# resident set size (/usr/bin/time -v) and windows/s. The bound must not grow with the scene size.
#
#   profiling/segment_memory.sh BIN CKPT [SIZES] [STRIDE] [BACKEND] [SCENE]
#     BIN      build/landcover
#     CKPT     a checkpoint (e.g. 1 epoch on ucmerced64 with --max-images: the speed and memory do
#              not depend on training)
#     SIZES    comma-separated sides in pixels (default 10000,20000,40000)
#     STRIDE   window stride (default 128: on a CPU backend the window count decides the run time)
#     BACKEND  default cpu
#     SCENE    optional small raster repeated as a mosaic (a VRT of SCENE copies: real content,
#              nothing large on disk); without it, a tiled, deflated GeoTIFF of constant bands made
#              by gdal_create (tiny on disk, read through the same code).
# Needs gdal-bin (gdal_create, gdalbuildvrt). Writes the rasters and outputs under $TMPDIR.
# Prints one line per size: side, windows, max RSS (MiB), windows/s, seconds.
set -euo pipefail
BIN=${1:?landcover binary}
CKPT=${2:?checkpoint}
SIZES=${3:-10000,20000,40000}
STRIDE=${4:-128}
BACKEND=${5:-cpu}
SCENE=${6:-}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lc_segmem_XXXXXX")
trap 'rm -rf "$WORK"' EXIT

make_raster() {  # side -> path
  local n=$1 out="$WORK/scene_$1"
  if [ -n "$SCENE" ]; then
    # A mosaic of SCENE copies, shifted by its size, as a VRT (reads the small file again and again).
    local w h
    read -r w h < <(gdalinfo "$SCENE" | awk '/^Size is/ {gsub(",", ""); print $3, $4}')
    python3 - "$SCENE" "$n" "$w" "$h" > "$out.vrt" <<'PY'
import sys
src, n, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f'<VRTDataset rasterXSize="{n}" rasterYSize="{n}">')
print('<SRS>EPSG:32618</SRS><GeoTransform>300000, 10, 0, 2000000, 0, -10</GeoTransform>')
for b in (1, 2, 3):
    print(f'<VRTRasterBand dataType="Byte" band="{b}">')
    for y in range(0, n, h):
        for x in range(0, n, w):
            cw, ch = min(w, n - x), min(h, n - y)
            print(f'<SimpleSource><SourceFilename relativeToVRT="0">{src}</SourceFilename><SourceBand>{b}</SourceBand>'
                  f'<SrcRect xOff="0" yOff="0" xSize="{cw}" ySize="{ch}"/><DstRect xOff="{x}" yOff="{y}" xSize="{cw}" ySize="{ch}"/></SimpleSource>')
    print('</VRTRasterBand>')
print('</VRTDataset>')
PY
    echo "$out.vrt"
  else
    # Constant bands, tiled and deflated: tiny on disk, read like any GeoTIFF.
    gdal_create -q -of GTiff -outsize "$n" "$n" -bands 3 -ot Byte -burn 90 -burn 140 -burn 60 \
      -a_srs EPSG:32618 -a_ullr 300000 2000000 $((300000 + 10 * n)) $((2000000 - 10 * n)) \
      -co TILED=YES -co COMPRESS=DEFLATE -co BIGTIFF=IF_SAFER "$out.tif"
    echo "$out.tif"
  fi
}

echo "landcover segment memory: stride $STRIDE, backend $BACKEND, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo "side,windows,max_rss_mib,windows_per_s,seconds"
IFS=, read -ra LIST <<< "$SIZES"
for n in "${LIST[@]}"; do
  r=$(make_raster "$n")
  log="$WORK/run_$n.log"
  /usr/bin/time -v "$BIN" segment --quiet --backend "$BACKEND" --model "$CKPT" --mode window --stride "$STRIDE" \
    --out-dir "$WORK/out_$n" "$r" > "$log" 2>&1 || { cat "$log"; exit 1; }
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  line=$(grep -m1 "forward passes in" "$log")
  windows=$(sed -E 's/.* ([0-9]+) forward passes in ([0-9.]+) s \(([0-9.]+) windows\/s\).*/\1/' <<< "$line")
  secs=$(sed -E 's/.* ([0-9]+) forward passes in ([0-9.]+) s \(([0-9.]+) windows\/s\).*/\2/' <<< "$line")
  wps=$(sed -E 's/.* ([0-9]+) forward passes in ([0-9.]+) s \(([0-9.]+) windows\/s\).*/\3/' <<< "$line")
  echo "$n,$windows,$((rss / 1024)),$wps,$secs"
  rm -rf "$WORK/out_$n" "$r"
done
