"""Numpy simulation core of insitu-gym (imports neither gymnasium nor torch)."""
