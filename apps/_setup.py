"""Run once when `observatory serve` starts the server: decide who may open which app on every
page request, answer a static path holding NUL with a 400 (not a 500), and warm the shared caches
in the background (the cyclone hazard takes seconds), so that the first visitor's page comes quickly."""

import panel as pn

from observatory.site.auth import authorize
from observatory.site.static import refuse_nul_paths
from observatory.views.warm import warm_in_background

pn.config.authorize_callback = authorize
refuse_nul_paths()
warm_in_background()
