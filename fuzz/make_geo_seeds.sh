#!/usr/bin/env bash
# Writes the seed corpora of the GDAL / netCDF fuzz targets (fuzz/corpus/raster, xco2, zones) with
# GDAL's and netCDF's command-line tools (gdal-bin, netcdf-bin): small synthetic rasters and tables
# in the layouts the readers document. The outputs are committed; rerun only to change them.
#   bash fuzz/make_geo_seeds.sh
set -euo pipefail
cd "$(dirname "$0")"
r=corpus/raster x=corpus/xco2 z=corpus/zones
mkdir -p "$r" "$x" "$z"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

# Rasters: 4-band UInt16 in UTM with nodata and a date, RGB Byte in EPSG:4326 with alpha, a
# palette one-band PNG, and a DEFLATE-compressed tiled GeoTIFF.
gdal_create -q -of GTiff -outsize 8 6 -bands 4 -ot UInt16 -burn 100 -burn 900 -burn 2000 -burn 3000 \
  -a_srs EPSG:32618 -a_ullr 500000 9000000 500240 8999820 -a_nodata 0 \
  -mo TIFFTAG_DATETIME="2020:07:14 10:00:00" "$r/utm_uint16_4band.tif"
gdal_create -q -of GTiff -outsize 7 5 -bands 4 -ot Byte -burn 10 -burn 120 -burn 240 -burn 255 \
  -a_srs EPSG:4326 -a_ullr -74.6 -8.3 -74.5 -8.4 -co ALPHA=YES "$t/rgba.tif"
cp "$t/rgba.tif" "$r/wgs84_rgba.tif"
gdal_create -q -of GTiff -outsize 6 4 -bands 1 -ot Byte -burn 3 "$t/grey.tif"
gdal_translate -q -of PNG "$t/grey.tif" "$r/grey.png"
gdal_translate -q -co TILED=YES -co BLOCKXSIZE=16 -co BLOCKYSIZE=16 -co COMPRESS=DEFLATE \
  -outsize 20 18 "$t/rgba.tif" "$r/tiled_deflate.tif"
rm -f "$r"/*.aux.xml

# XCO2: a CSV table in ppm, a TSV table in mol/mol, an OCO-2 Lite file, a gridded file.
printf 'longitude,latitude,time,xco2,xco2_uncertainty\n-74.55,-8.35,2020-07-14T15:00:00Z,411.2,0.5\n-74.52,-8.38,20200715150000,410.9,0.6\n' >"$x/table.csv"
printf 'lon\tlat\tdate\txco2\n-60.1\t-3.2\t2015-08-01\t0.000398\n' >"$x/table_molmol.tsv"
cat >"$t/lite.cdl" <<'CDL'
netcdf lite {
dimensions: sounding_id = 3 ;
variables:
  float xco2(sounding_id) ; xco2:units = "ppm" ;
  float xco2_uncertainty(sounding_id) ;
  float latitude(sounding_id) ; float longitude(sounding_id) ;
  double time(sounding_id) ; time:units = "seconds since 1970-01-01 00:00:00" ;
  byte xco2_quality_flag(sounding_id) ;
data:
  xco2 = 400.5, 401, 402.25 ; xco2_uncertainty = 0.5, 0.4, 0.6 ;
  latitude = -8.3, -8.35, -8.4 ; longitude = -74.6, -74.55, -74.5 ;
  time = 1594738800, 1594738801, 1594738802 ; xco2_quality_flag = 0, 1, 0 ;
}
CDL
ncgen -k nc4 -o "$x/lite.nc4" "$t/lite.cdl"
cat >"$t/grid.cdl" <<'CDL'
netcdf grid {
dimensions: time = 1 ; lat = 2 ; lon = 2 ;
variables:
  double time(time) ; time:units = "days since 2015-01-01" ;
  float lat(lat) ; float lon(lon) ;
  float xco2(time, lat, lon) ; xco2:_FillValue = -999.f ; xco2:scale_factor = 1.f ;
data:
  time = 200 ; lat = -3.125, -2.875 ; lon = -60.125, -59.875 ;
  xco2 = 398.5, -999, 399.25, 400 ;
}
CDL
ncgen -k classic -o "$x/grid.nc" "$t/grid.cdl"

# Zone tables: two classes, two zones, and one zone with a hole.
{
  echo 'zone_id,date,geometry_wkt,valid_km2,nodata_km2,km2:forest,km2:urban,pct:forest,pct:urban'
  echo 'a,2020-07-14,"POLYGON ((-74.6 -8.4, -74.5 -8.4, -74.5 -8.3, -74.6 -8.3, -74.6 -8.4))",120.5,0,100.5,20,83.4,16.6'
  echo 'b,2020-07-14,"POLYGON ((-74.5 -8.4, -74.4 -8.4, -74.4 -8.3, -74.5 -8.3, -74.5 -8.4))",110,10,55,55,50,50'
} >"$z/two_zones.csv"
{
  echo 'zone_id,date,geometry_wkt,valid_km2,nodata_km2,km2:forest,km2:urban,pct:forest,pct:urban'
  echo 'h,2015-08-01,"POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0), (0.2 0.2, 0.8 0.2, 0.8 0.8, 0.2 0.8, 0.2 0.2))",800,0,400,400,50,50'
} >"$z/hole.csv"
echo "seeds written to fuzz/corpus/{raster,xco2,zones}"
