"""Coordinate reference systems of the observatory (ARCHITECTURE: store WGS84, measure in UTM 20N)."""

STORAGE_CRS = "EPSG:4326"  # WGS84 lon/lat, how everything is stored
METRIC_CRS = "EPSG:5490"  # RGAF09 / UTM zone 20N, the official projection for Martinique
DISPLAY_TZ = "America/Martinique"  # UTC-4, no daylight saving
ISLAND_CODE = "972"  # INSEE département code, used as the 'place' of island-wide figures
OFFICIAL_AREA_KM2 = 1128.0  # INSEE surface of the département, km²
