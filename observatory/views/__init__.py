"""Plot builders shared by the apps and the notebooks (choropleths, datashaded series, KeplerGL)."""
