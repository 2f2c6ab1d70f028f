# Shared by the Python package's tests (run by ctest: tests/CMakeLists.txt sets PYTHONPATH to
# build/python, EVSAM_TEST_DATA to tests/data and EVSAM_BIN_DIR to build/bin).
import json
import os

import numpy as np
import pytest

import evsam

DATA = os.environ.get("EVSAM_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
BIN = os.environ.get("EVSAM_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin"))
TINY = os.path.join(DATA, "tiny")


def tiny(*parts):
    return os.path.join(TINY, *parts)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def tiny_model(cfg, dtype="float32", config=None, weights=None, **kw):
    """The tiny fixture model `cfg` (tiny_l, tiny_xl, tiny_vit, ...) from its JSON configuration."""
    return evsam.create_model(config=config or tiny(cfg, "config.json"), weights=weights or tiny(cfg, "model.pt"),
                              dtype=dtype, **kw)


def expect_ok(result):
    assert result["ok"], result["message"]
    return result


@pytest.fixture(scope="session")
def tiny_l():
    return tiny_model("tiny_l")


@pytest.fixture(autouse=True)
def _threads():
    # results are bit-identical for any thread count; two keeps ctest -j2 from oversubscribing
    evsam.set_num_threads(2)
    yield
