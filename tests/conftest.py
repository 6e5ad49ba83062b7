"""Shared set-up: torch (the reference) runs at one thread, or tiny networks crawl on this machine; every test that
asks for ``rng`` gets its own generator, so its data does not depend on which tests ran before it."""

import numpy as np
import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
