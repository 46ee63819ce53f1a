"""The README's usage example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = '''import gymnasium as gym
import numpy as np
import envs  # registers the insitu/ ids

env = gym.make("insitu/UrbanSmartphone-v1", action_mode="discrete")
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
    ours = [b for b in blocks if 'gym.make("insitu/UrbanSmartphone-v1"' in b]
    if not ours:
        pytest.skip("README.md does not show the v1 usage example")
    assert ours[0] == EXAMPLE


def test_example_runs():
    out = subprocess.run([sys.executable, "-c", EXAMPLE], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "accuracy" in out.stdout and "'depth'" in out.stdout and "'integer'" in out.stdout
