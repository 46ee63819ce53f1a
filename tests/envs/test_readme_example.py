"""The README's usage example runs as written (same text as /tmp/briefs/README_env.md, pasted into README.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from insitu_test_helpers import shipped_profiles_missing

EXAMPLE = '''import gymnasium as gym
import numpy as np
import envs  # registers the insitu/ ids

env = gym.make("insitu/UrbanSmartphone-v0", action_mode="discrete")
obs, info = env.reset(seed=0)
for _ in range(100):  # the clairvoyant one-step oracle: best reward on the true next step
    action = int(np.argmax(env.unwrapped.one_step_rewards()))
    obs, reward, terminated, truncated, info = env.step(action)
print(info["source_tier"], info["variant"], info["reward_terms"])
'''

ROOT = Path(__file__).resolve().parents[2]


def test_example_is_at_most_ten_lines():
    assert len(EXAMPLE.strip().splitlines()) <= 10


def test_readme_carries_this_example_if_present():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    ours = [b for b in blocks if 'gym.make("insitu/UrbanSmartphone-v0"' in b]
    if not ours:
        pytest.skip("README.md does not contain the environment usage example yet")
    assert ours[0] == EXAMPLE


def test_example_runs():
    missing = shipped_profiles_missing("urban_smartphone")
    if missing:
        pytest.skip(f"shipped profiles not built yet: {missing}")
    out = subprocess.run([sys.executable, "-c", EXAMPLE], capture_output=True, text=True, timeout=300,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "accuracy" in out.stdout and "'depth'" in out.stdout
