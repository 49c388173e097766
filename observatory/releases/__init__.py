"""Open-data releases: the catalogue of datasets, the privacy gate, and versioned, checksummed
release folders described in Frictionless and DCAT-AP 3."""
