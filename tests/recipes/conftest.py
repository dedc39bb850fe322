import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The recipe tests work on tiny tensors, where a second OpenMP thread on a shared 2-core
    runner costs more than it gains (the smoke scales set the same through `torch_threads`)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
