"""Learning agents, baselines, evaluation and comparison for insitu-gym.

Modules (their imports form no cycle, lazy imports inside functions included):

- :mod:`agents.metrics`: per-episode metrics from the env's infos, TensorBoard logging.
- :mod:`agents.runs`: run-folder names, run folders and ``meta.json`` (one schema, every backend).
- :mod:`agents.common`: ``--scenario`` -> Gymnasium env, shared hyperparameter-file reading.
- :mod:`agents.policy_base`: the :class:`~agents.policy_base.Policy` interface.
- :mod:`agents.policies`: the baselines, the oracle and :func:`~agents.policies.make_policy`
  (which loads a learned model through :mod:`agents.sb3_policy` on demand).
- :mod:`agents.evaluate`: episodes, confidence intervals, the comparison report.
- :mod:`agents.sb3`: SB3 training (:class:`~agents.sb3.TrainConfig`, :func:`~agents.sb3.train`).
- :mod:`agents.sb3_policy`: trained SB3 models as policies (imports :mod:`agents.sb3` lazily).
- :mod:`agents.rllib`: RLlib PPO training (optional extra ``rllib``).
- :mod:`agents.connectivity`: the ``connectivity`` experiment.
"""
