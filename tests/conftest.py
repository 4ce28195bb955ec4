import os

import pytest
import torch

# Hypothesis: deterministic and bounded in CI.
try:
    from hypothesis import settings

    settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # pragma: no cover
    pass


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
    # CLI commands run in-process flush denormals to zero (a process-wide CPU flag); the
    # next test gets IEEE arithmetic again.
    torch.set_flush_denormal(False)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of tiny models (more only add waiting on a shared
    machine); use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def count_builds(monkeypatch):
    """``count_builds(module)`` -> a list that receives the cache key of every data build
    ``module``'s loaders run (wraps the ``cached`` they imported; cache hits add nothing)."""
    from liquidtorch.data import _task

    def spy_on(module) -> list[str]:
        builds: list[str] = []

        def spy(key, build):
            def counted():
                builds.append(key)
                return build()

            return _task.cached(key, counted)

        monkeypatch.setattr(module, "cached", spy)
        return builds

    return spy_on
