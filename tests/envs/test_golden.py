"""The environments reproduce the committed golden recording bit for bit.

See ``tests/envs/golden.py`` for what is recorded and how to regenerate the recording after a
deliberate change of behaviour (``python tests/envs/golden.py --write``, in a commit of its own).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import golden  # noqa: E402

RECORDINGS = golden.recordings()


def test_golden_file_lists_every_recording():
    assert sorted(golden.load_golden()) == sorted(RECORDINGS)


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_recording_equals_golden(name):
    want = golden.load_golden().get(name)
    assert want is not None, f"{name} is not in {golden.GOLDEN_FILE}; regenerate it (see tests/envs/golden.py)"
    got = RECORDINGS[name]()
    lines = golden.diff(name, got, want)
    assert not lines, "behaviour changed:\n" + "\n".join(lines)


def test_digest_sees_a_one_ulp_change():
    import numpy as np

    a, b = golden.Digest(), golden.Digest()
    x = np.array([0.1, 0.2], dtype=np.float32)
    a.add("obs", x)
    b.add("obs", np.nextafter(x, np.float32(1.0)))
    assert a.result() != b.result()
    c = golden.Digest()
    c.add("obs", x.copy())
    assert a.result() == c.result()
