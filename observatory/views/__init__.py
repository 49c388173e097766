"""Plot builders shared by the apps and the notebooks (choropleths, datashaded series, KeplerGL)."""

from observatory.views import panel_patches  # noqa: F401  (a fix to Panel's message queue, see there)
