"""Numpy simulation core of insitu-gym (no gymnasium, no torch).

* :mod:`envs.sim.channel`: 3GPP TR 38.901 path loss, LoS probability, shadowing, fading, blockage,
  the link budget and the rate.
* :mod:`envs.sim.device`: energy per MAC vs bit width (Horowitz ISSCC 2014), inference latency.
* :mod:`envs.sim.library`: download latency through the three library tiers, LRU edge cache.
* :mod:`envs.sim.reward`: the weighted reward terms and their sum; constraint-cost names.
* :mod:`envs.sim.observation`: the scalings of the observation features.
* :mod:`envs.sim.params`: scenario + profiles -> look-up tables (built once).
* :mod:`envs.sim.exogenous`: pre-generated exogenous processes (per-row generators).
* :mod:`envs.sim.state`: the named state (:class:`SimState`, :class:`Dyn`) and :class:`StepResult`.
* :mod:`envs.sim.dynamics`: the one-step transition, one code for arrays over rows and for one row.
* :mod:`envs.sim.core`: :class:`BatchSim`, the batched state machine every env adapter wraps.
* :mod:`envs.sim.cell`: coupling of devices sharing a cell (air schedulers, backhaul, edge cache).
"""

from envs.sim.core import BatchSim
from envs.sim.params import SimParams, build_params
from envs.sim.state import Dyn, SimState, StepResult

__all__ = ["BatchSim", "Dyn", "SimParams", "SimState", "StepResult", "build_params"]
