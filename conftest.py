"""Repository-wide pytest setup: the names every docstring example (``>>>``) may use."""

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    """Docstring examples use ``torch`` and ``np`` without importing them, start from the
    same seed every time and run on one thread (the machine is shared)."""
    doctest_namespace.update(torch=torch, np=np)
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
