"""Run once when `observatory serve` starts the server: decide who may open which app on every
page request, and warm the shared caches in the background (the cyclone hazard takes seconds),
so that the first visitor's page comes quickly."""

import panel as pn

from observatory.site.auth import authorize
from observatory.views.warm import warm_in_background

pn.config.authorize_callback = authorize
warm_in_background()
