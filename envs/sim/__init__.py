"""Numpy simulation core of insitu-gym (no gymnasium, no torch).

* :mod:`envs.sim.channel`: 3GPP TR 38.901 path loss, LoS probability, shadowing, fading, blockage, rate.
* :mod:`envs.sim.device`: energy per MAC vs bit width (Horowitz ISSCC 2014), inference latency.
* :mod:`envs.sim.library`: download latency through the three library tiers, LRU edge cache.
* :mod:`envs.sim.params`: scenario + profiles -> look-up tables (built once).
* :mod:`envs.sim.exogenous`: pre-generated exogenous processes (per-row generators).
* :mod:`envs.sim.core`: :class:`BatchSim`, the batched state machine every env adapter wraps.
"""

from envs.sim.core import BatchSim, StepResult
from envs.sim.params import SimParams, build_params

__all__ = ["BatchSim", "SimParams", "StepResult", "build_params"]
