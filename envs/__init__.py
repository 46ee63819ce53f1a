"""Gymnasium environments for in-situ model downloading."""
