import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# The compiled sparse kernels are built once for the whole test session (and the processes it starts), not once
# per test's cache directory.
if not os.environ.get("BALANCEDRNN_KERNEL_DIR"):
    import tempfile

    os.environ["BALANCEDRNN_KERNEL_DIR"] = tempfile.mkdtemp(prefix="balancedrnn-test-kernels-")


def _mnist_dir() -> Path | None:
    env = os.environ.get("BALANCEDRNN_TEST_MNIST_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data" / "mnist")
    for c in candidates:
        if (c / "t10k-images-idx3-ubyte.gz").exists() or (c / "t10k-images-idx3-ubyte").exists():
            return c
    return None


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    d = _mnist_dir()
    if d is None:
        pytest.skip("real MNIST idx files not found (set BALANCEDRNN_TEST_MNIST_DIR)")
    return d


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    from balancedrnn.tasks.mnist import load_idx_dir

    return load_idx_dir(mnist_dir)


@pytest.fixture(scope="session")
def rad_toy(mnist):
    """A small RAD data set (300 / 100 / 100 sequences, two transforms) for training-option tests."""
    from balancedrnn.tasks import rad

    return rad.generate(mnist, rad.RADConfig(n_train=300, n_val=100, n_test=100, seed=0,
                                             transforms=("baseline", "perspective_0.9")))


@pytest.fixture
def adam_block():
    """A 9 x 11 masked block after three Adam steps, and its moments as dense matrices (for the tests that move
    entries: rewire and prune must carry each kept entry's moments along)."""
    import torch

    from balancedrnn.core.masks import MaskedBlock

    def make(density: float):
        block = MaskedBlock.random(9, 11, density, torch.Generator().manual_seed(2))
        opt = torch.optim.Adam(block.parameters(), lr=1e-2)
        for _ in range(3):
            opt.zero_grad()
            (block.dense() ** 3).sum().backward()
            opt.step()
        moments = {name: MaskedBlock(9, 11, block.index, opt.state[block.values][name]).dense().detach().clone()
                   for name in ("exp_avg", "exp_avg_sq")}
        return block, opt, moments

    return make


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own cache directory and never tries the network."""
    monkeypatch.setenv("BALANCEDRNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BALANCEDRNN_OFFLINE", "1")
    monkeypatch.delenv("BALANCEDRNN_MNIST_DIR", raising=False)


@pytest.fixture(params=["native", "torch"])
def sparse_backend(request):
    """Run a test on the compiled sparse kernels and on PyTorch's CSR operators (restored afterwards)."""
    from balancedrnn.kernels import native

    if request.param == "native" and not native.available():
        if os.environ.get("CI"):
            pytest.fail(f"the compiled kernels must build in CI: {native.status()}")
        pytest.skip(f"compiled kernels unavailable: {native.status()}")
    native.enable(request.param == "native")
    yield request.param
    native.enable(True)


@pytest.fixture
def one_torch_thread():
    """Small models are fastest on one thread, and far slower on two busy cores (then restored)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
