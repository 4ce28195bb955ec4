"""CUDA tensors work through plain PyTorch ops and agree with the CPU (skipped without CUDA)."""

import pytest
import torch

from liquidtorch import LTC, AutoNCP, CfC
from liquidtorch.baselines import CTGRU, ODERNN

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

MODELS = {
    "ltc_ncp": lambda: LTC(4, AutoNCP(12, 2)),
    "cfc": lambda: CfC(4, 8, backbone_units=16),
    "cfc_wired_mixed": lambda: CfC(4, AutoNCP(12, 2), mixed_memory=True),
    "ctgru": lambda: CTGRU(4, 6),
    "odernn": lambda: ODERNN(4, 6),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_cuda_matches_cpu(name):
    torch.manual_seed(0)
    cpu = MODELS[name]().double()
    gpu = MODELS[name]().double().cuda()
    gpu.load_state_dict(cpu.state_dict())
    x, ts = torch.randn(3, 7, 4, dtype=torch.float64), torch.rand(3, 7, dtype=torch.float64) + 0.1
    y_cpu, _ = cpu(x, timespans=ts, lengths=[7, 3, 5])
    y_gpu, _ = gpu(x.cuda(), timespans=ts.cuda(), lengths=torch.tensor([7, 3, 5]).cuda())
    torch.testing.assert_close(y_gpu.cpu(), y_cpu, rtol=1e-9, atol=1e-9)
    y_cpu.sum().backward()
    y_gpu.sum().backward()
    for (n, p), q in zip(cpu.named_parameters(), gpu.parameters(), strict=True):
        torch.testing.assert_close(q.grad.cpu(), p.grad, rtol=1e-7, atol=1e-9, msg=n)
