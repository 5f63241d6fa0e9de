import pytest
import torch.distributed as dist

from vaelab.training import distributed
from vaelab.training.distributed import DistInfo


@pytest.mark.parametrize("finished", [True, False])
def test_teardown_meets_the_other_ranks_only_after_a_finished_run(monkeypatch, finished):
    """A finished run: barrier, then destroy (no rank leaves while another still talks to it).
    After an error: neither (the other ranks may never reach a barrier; torchrun stops them)."""
    calls: list[str] = []
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "barrier", lambda *a, **k: calls.append("barrier"))
    monkeypatch.setattr(dist, "destroy_process_group", lambda *a, **k: calls.append("destroy"))
    distributed.teardown(DistInfo(rank=1, world_size=2), finished)
    assert calls == (["barrier", "destroy"] if finished else [])
    calls.clear()
    distributed.teardown(DistInfo(), finished)  # one process: no group to leave
    assert calls == []
