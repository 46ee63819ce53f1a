"""Real model library: multi-exit models compressed at depth, parameter and bit level, measured.

Importing this package does not import torch; the PyTorch parts live in submodules that are
imported on use. :mod:`compression.profile` (schema, loading) is numpy-only.
"""

from compression.profile import Profile, ProfileError, available_profiles, load_profile

__all__ = ["Profile", "ProfileError", "available_profiles", "load_profile"]
