"""Territory KPIs: validated specs (ISO 37120/37122/37123 references) and the engine computing
them per commune and for the island from the warehouse."""
