import torch

from vaelab.data import TensorBatches


def test_one_epoch_visits_every_row_once():
    x = torch.arange(103.).unsqueeze(1)
    seen = torch.cat(list(TensorBatches(x, 10, generator=torch.Generator().manual_seed(0))))
    assert sorted(seen.squeeze(1).tolist()) == list(range(103))


def test_ranks_get_disjoint_equal_shards():
    x = torch.arange(100.).unsqueeze(1)
    shards = [torch.cat(list(TensorBatches(x, 7, generator=torch.Generator().manual_seed(1),
                                           rank=r, world_size=2))) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 50
    assert not set(shards[0].squeeze(1).tolist()) & set(shards[1].squeeze(1).tolist())


def test_dynamic_binarization_batches_are_binary():
    x = torch.full((20, 5), 0.3)
    b = next(iter(TensorBatches(x, 20, dynamic_binarize=True)))
    assert set(torch.unique(b).tolist()) <= {0.0, 1.0}
