"""User models: profile_user_model on a tiny MLP and a tiny multi-exit net."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from compression.models import MultiExitNet, NetConfig
from compression.profile import load_profile
from compression.training import TrainConfig, train
from compression.usermodel import grid_size, profile_user_model

torch.set_num_threads(1)


def _blobs(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centers = torch.tensor([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0]])
    x = centers[y] + torch.randn(n, 4, generator=g)
    return x, y


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    x, y = _blobs(300, 0)
    train(m, x, y, TrainConfig(epochs=15, batch_size=32, lr=1e-2))
    return m


def test_user_mlp_profile_is_valid_and_measured(mlp, tmp_path):
    before = {k: v.clone() for k, v in mlp.state_dict().items()}
    grid = {
        "prune": [{"kind": "none", "fraction": 0.0}, {"kind": "unstructured", "fraction": 0.5}],
        "bits": [32, 8, 2],
    }
    path = profile_user_model(
        mlp, _blobs(300, 0), _blobs(200, 1), grid=grid, out_path=tmp_path / "p.json",
        name="mlp", task="blobs", finetune=TrainConfig(epochs=1, batch_size=32, lr=1e-3),
        latency_rounds=2,
    )
    prof = load_profile(path)  # validated
    assert prof.source == "user" and prof.name == "mlp" and prof.shape == (1, 2, 3)
    assert prof.valid.all()
    raw = json.loads(path.read_text())
    v = {(x["prune"]["kind"], x["bits"]): x for x in raw["variants"]}
    assert v[("none", 32)]["accuracy"] > 0.8  # separable blobs
    assert v[("none", 32)]["params"] == 4 * 16 + 16 + 16 * 3 + 3
    assert v[("none", 32)]["macs"] == 4 * 16 + 16 * 3
    assert v[("unstructured", 32)]["macs_nonzero"] == pytest.approx(0.5 * (4 * 16 + 16 * 3), abs=1)
    assert v[("none", 8)]["size_bytes"] < v[("none", 32)]["size_bytes"]
    assert v[("unstructured", 32)]["size_bytes"] < v[("none", 32)]["size_bytes"]
    assert all(x["latency_s"] > 0 for x in raw["variants"])
    # schema 2: per-plane accuracy measured for integer codes, training_free per prune level
    assert raw["schema_version"] == 2 and raw["levels"]["arithmetic"] == ["float"] * 3
    assert "progressive_accuracy" not in v[("none", 32)]
    for key in (("none", 8), ("unstructured", 2)):
        assert len(v[key]["progressive_accuracy"]) == key[1]
        assert v[key]["progressive_accuracy"][-1] == v[key]["accuracy"]
        assert v[key]["progressive_size_bytes"][-1] == v[key]["size_bytes"]
    assert v[("none", 8)]["training_free"] and not v[("unstructured", 8)]["training_free"]
    # the user's model is never modified
    assert all(torch.equal(before[k], t) for k, t in mlp.state_dict().items())
    # no silent overwrite
    with pytest.raises(FileExistsError, match="exists"):
        profile_user_model(mlp, _blobs(50, 0), _blobs(50, 1), out_path=path)


def test_structured_pruning_on_user_model_is_refused(mlp, tmp_path):
    with pytest.raises(ValueError, match="structured pruning.*only"):
        profile_user_model(
            mlp, _blobs(50, 0), _blobs(50, 1),
            grid={"prune": [{"kind": "structured", "fraction": 0.5}]}, out_path=tmp_path / "x.json",
        )
    assert not (tmp_path / "x.json").exists()


def test_bad_grid_and_data_errors(mlp, tmp_path):
    with pytest.raises(ValueError, match=r"grid.bits\[0\]"):
        profile_user_model(mlp, _blobs(50, 0), _blobs(50, 1), grid={"bits": [3.5]}, out_path=tmp_path / "a.json")
    with pytest.raises(ValueError, match=r"grid.depth\[0\] must be an int in 1..1"):
        profile_user_model(mlp, _blobs(50, 0), _blobs(50, 1), grid={"depth": [2]}, out_path=tmp_path / "a.json")
    with pytest.raises(ValueError, match="test_data"):
        profile_user_model(mlp, _blobs(50, 0), (torch.zeros(5, 4), torch.zeros(4)), out_path=tmp_path / "a.json")


def test_multi_exit_net_with_structured_pruning(tmp_path):
    torch.manual_seed(0)
    net = MultiExitNet(NetConfig(1, 3, (4, 6), (1, 2), 4, 1, 2, 3))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 1, 8, 8, generator=g)
    y = torch.randint(0, 3, (64,), generator=g)
    grid = {"prune": [{"kind": "none", "fraction": 0.0}, {"kind": "structured", "fraction": 0.5}], "bits": [32, 4]}
    assert grid_size(grid, 2) == 8
    path = profile_user_model(
        net, (x, y), (x, y), grid=grid, out_path=tmp_path / "m.json",
        finetune=TrainConfig(epochs=1, batch_size=16), latency_rounds=2,
    )
    prof = load_profile(path)
    assert prof.shape == (2, 2, 2) and prof.valid.all()
    # depth really cuts the model; structured pruning really lowers MACs
    assert prof.macs[0, 0, 0] < prof.macs[1, 0, 0]
    assert prof.macs[1, 1, 0] < prof.macs[1, 0, 0]
    assert prof.size_bytes[1, 0, 1] < prof.size_bytes[1, 0, 0]
