"""Reference data of the territory: communes, population, CRS, analysis grid, upstream file registry."""
