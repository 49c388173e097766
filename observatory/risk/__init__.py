"""Natural hazards of Martinique: cyclone (HURDAT2 tracks and parametric wind), and the multi-risk index."""
