import pytest
import torch

from vaelab.errors import CheckpointError
from vaelab.training.checkpoint import load_checkpoint, restore, save_checkpoint


def _model_and_opt():
    m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        m(torch.randn(5, 3)).pow(2).mean().backward()
        opt.step()
    return m, opt


def test_roundtrip_weights_optimizer_rng(tmp_path):
    m, opt = _model_and_opt()
    state = torch.get_rng_state()
    save_checkpoint(tmp_path / "c.safetensors", {"model": m}, opt, {"epoch": 3},
                    {"torch": state})
    assert not list(tmp_path.glob("*.tmp"))
    m2, opt2 = _model_and_opt()
    tensors, header = load_checkpoint(tmp_path / "c.safetensors")
    rng = restore(tensors, header, {"model": m2}, opt2)
    assert header["meta"]["epoch"] == 3
    for a, b in zip(m.parameters(), m2.parameters()):
        assert torch.equal(a, b)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    for pid in s1["state"]:
        for k in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(torch.as_tensor(s1["state"][pid][k]),
                               torch.as_tensor(s2["state"][pid][k]))
    assert torch.equal(rng["torch"], state)


def test_corrupt_and_missing_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "none.safetensors")
    m, opt = _model_and_opt()
    p = tmp_path / "c.safetensors"
    save_checkpoint(p, {"model": m}, opt, {})
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])  # truncated write
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(p)
    p.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(p)


def test_mismatched_model(tmp_path):
    m, opt = _model_and_opt()
    save_checkpoint(tmp_path / "c.safetensors", {"model": m}, None, {})
    tensors, header = load_checkpoint(tmp_path / "c.safetensors")
    with pytest.raises(CheckpointError, match="does not match"):
        restore(tensors, header, {"model": torch.nn.Linear(3, 1)})
