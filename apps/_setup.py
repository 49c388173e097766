"""Run once when `observatory serve` starts the server: warm the shared caches in the background
(the cyclone hazard takes seconds), so that the first visitor's page comes quickly."""

from observatory.views.warm import warm_in_background

warm_in_background()
