"""Task data: shapes, label ranges, determinism under the seed, no leakage, test size."""

from __future__ import annotations

import numpy as np
import pytest

from compression.datasets import TASKS, class_names, load_task


@pytest.fixture(scope="module")
def tasks():
    return {t: load_task(t, 0) for t in TASKS}


def test_shapes_labels_and_sizes(tasks):
    expected = {"digits16": (1, 16, 16), "kws": (1, 32, 32), "shapes": (1, 16, 16), "har": (3, 128)}
    for name, d in tasks.items():
        assert d.input_shape == expected[name]
        assert d.x_train.shape[1:] == d.input_shape and d.x_test.shape[1:] == d.input_shape
        assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
        assert len(d.y_test) >= 2000, name
        assert set(np.unique(d.y_test)) == set(range(d.n_classes)), name
        assert np.isfinite(d.x_train).all() and np.isfinite(d.x_test).all()
        assert len(class_names(name)) == d.n_classes
        info = d.info()
        assert info["n_test"] == len(d.y_test) and info["classes"] == d.n_classes


def test_deterministic_under_seed_and_seed_changes_data(tasks):
    for name in ("digits16", "har"):
        again = load_task(name, 0)
        assert np.array_equal(again.x_train, tasks[name].x_train)
        assert np.array_equal(again.y_test, tasks[name].y_test)
        other = load_task(name, 1)
        assert not np.array_equal(other.x_test, tasks[name].x_test)


def test_digits_split_by_original_image(tasks):
    d = tasks["digits16"]
    # 1,797 originals, 40 % held out, 3 test copies / 6 train copies of each original
    assert len(d.y_test) == 719 * 3 and len(d.y_train) == 1078 * 6
    # copies of one original are consecutive in the test set and share the label
    assert (d.y_test.reshape(-1, 3) == d.y_test[::3, None]).all()


def test_bad_task_and_seed():
    with pytest.raises(ValueError, match="unknown task 'mnist'"):
        load_task("mnist")
    with pytest.raises(ValueError, match="seed"):
        load_task("har", -1)
