"""Scenario files (YAML) and their typed loader."""
