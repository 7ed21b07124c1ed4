"""Configuration (nenubroker.yaml), its typed loader (settings.py), Avro schemas and Maven POMs."""
