"""Repository-wide pytest setup for the docstring examples (``>>>``) of ``liquidtorch/``."""

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _doctest_names(doctest_namespace):
    """Docstring examples use ``torch`` and ``np`` without importing them."""
    doctest_namespace.update(torch=torch, np=np)


@pytest.fixture(autouse=True)
def _doctest_determinism(request):
    """Each docstring example starts from the same seed, on one thread (the machine is
    shared); the tests under ``tests/`` set up their own."""
    if type(request.node).__name__ != "DoctestItem":
        yield
        return
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
