#!/usr/bin/env bash
# The chain from rasters to the CO2 summary: segments two Landsat annual composites of the same
# place (2015 and 2020) into 0.25-degree zones with `landcover segment --zones`, then relates the
# zones' land-cover fractions to OCO-2 XCO2 of the same years with `landcover correlate`.
#   scripts/co2_chain.sh MODEL.ckpt SCENES_DIR XCO2_DIR OUT_DIR
# SCENES_DIR holds landsat_2015.tif and landsat_2020.tif; XCO2_DIR the OCO-2 files of both years
# (L3 exports OCO2L2Stdv10_L3_<year>*.txt, or Lite / gridded netCDF). Writes OUT_DIR/segment/
# (class maps, <stem>_zones.csv) and OUT_DIR/co2/ (joined.csv, summary.csv, summary.json, scatter.png).
# The composites are annual, so each is dated mid-year and matched with a half-year window.
set -euo pipefail
if [ $# -ne 4 ]; then
  echo "usage: $0 MODEL.ckpt SCENES_DIR XCO2_DIR OUT_DIR" >&2
  exit 2
fi
MODEL=$1 SCENES=$2 XCO2=$3 OUT=$4
LC=${LC:-build/landcover}
for year in 2015 2020; do
  "$LC" segment --model "$MODEL" --mode window --bands 1,2,3 --zones grid:0.25 --date "$year-07-01" \
    --out-dir "$OUT/segment" "$SCENES/landsat_$year.tif"
done
shopt -s nullglob
xco2=("$XCO2"/*2015* "$XCO2"/*2020*)
if [ ${#xco2[@]} -eq 0 ]; then
  echo "$0: no XCO2 files of 2015 or 2020 in $XCO2" >&2
  exit 1
fi
"$LC" correlate --zones "$OUT/segment/landsat_2015_zones.csv" "$OUT/segment/landsat_2020_zones.csv" \
  --xco2 "${xco2[@]}" --days 183 --background ring:2deg --min-soundings 1 --out-dir "$OUT/co2"
