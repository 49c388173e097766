"""The sensor fleet that stands in for the field: 120 simulated sensors in seven domains, their
physics, scenarios and faults, written in the formats the field writes (line protocol, MQTT,
InfluxDB 1.x, ODK Central exports). ``observatory simulate`` runs it; see engine.simulate."""
