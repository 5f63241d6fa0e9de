import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vaelab.models.quantizer import VectorQuantizer


def test_returns_the_nearest_code_and_straight_through_gradient():
    torch.manual_seed(0)
    vq = VectorQuantizer(16, 4)
    z = torch.randn(2, 4, 3, 3, requires_grad=True)
    out = vq(z)
    flat = z.detach().permute(0, 2, 3, 1).reshape(-1, 4)
    brute = torch.cdist(flat, vq.embed.detach()).argmin(1)
    assert torch.equal(out.indices.reshape(-1), brute)
    assert torch.allclose(out.z_q, vq.lookup(out.indices))  # round trip: decode(indices) = z_q
    (g,) = torch.autograd.grad(out.z_q.sum(), z)
    assert torch.equal(g, torch.ones_like(z))  # the gradient reaches the encoder unchanged
    # codebook loss moves codes, commitment loss moves the encoder
    gc = torch.autograd.grad(out.codebook.sum(), vq.embed)[0]
    assert gc.abs().sum() > 0
    assert torch.allclose(out.commitment, out.codebook)  # same value, different gradients


def test_ema_moves_codes_to_the_mean_of_their_vectors():
    torch.manual_seed(0)
    vq = VectorQuantizer(2, 2, ema=True, decay=0.5, restart_threshold=0.0)
    with torch.no_grad():
        vq.embed.copy_(torch.tensor([[1.0, 1], [-1, -1]]))
        vq.embed_sum.copy_(vq.embed)
        vq.initialized.fill_(True)
    z = torch.tensor([[0.8, 1.2], [1.4, 0.6], [-1.2, -0.8], [-0.9, -1.0]]).T.reshape(1, 2, 2, 2)
    vq.train()
    for _ in range(40):
        out = vq(z)
    assert torch.allclose(vq.embed[0], torch.tensor([1.1, 0.9]), atol=1e-3)
    assert torch.allclose(vq.embed[1], torch.tensor([-1.05, -0.9]), atol=1e-3)
    assert out.codebook.abs().sum() == 0  # EMA: no codebook loss


def test_dead_codes_are_restarted_on_encoder_outputs():
    torch.manual_seed(0)
    vq = VectorQuantizer(8, 3)
    with torch.no_grad():
        vq.embed[4:] += 100.0  # far away: never chosen
        vq.initialized.fill_(True)
    z = torch.randn(4, 3, 4, 4)
    vq.train()
    for _ in range(60):
        vq(z)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 3)
    dist_to_data = torch.cdist(vq.embed.detach()[4:], flat).min(1).values
    assert (dist_to_data < 0.01).all()  # revived onto real encoder outputs


def test_float32_island_under_autocast():
    torch.manual_seed(0)
    vq = VectorQuantizer(32, 8)
    z = torch.randn(2, 8, 4, 4)
    ref = vq(z).indices
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = vq(z.bfloat16())
    assert out.z_q.dtype == torch.bfloat16
    agree = (out.indices == vq(z.bfloat16().float()).indices).float().mean()
    assert agree == 1.0  # distances in float32 on the (bf16-rounded) inputs
    assert (ref == out.indices).float().mean() > 0.7  # only the input rounding differs


def _rank(rank, world, init, data, results):
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    torch.manual_seed(0)  # same initial codebooks everywhere
    ema = VectorQuantizer(6, 2, ema=True, decay=0.8, restart_threshold=0.0)
    ema.initialized.fill_(True)
    restart = VectorQuantizer(6, 2, restart_threshold=5.0)  # restarts every step
    torch.manual_seed(rank)  # ranks draw different random numbers from here on
    for vq in (ema, restart):
        vq.train()
        for step in range(5):
            vq(data[rank][step])
    torch.save({"ema": ema.state_dict(), "restart": restart.state_dict()}, results[rank])
    dist.destroy_process_group()


def test_codebook_stays_identical_across_ddp_ranks(tmp_path):
    """Two gloo processes see different data: EMA statistics are all-reduced and restarts are
    broadcast from rank 0, so both ranks keep the same codebook, and the EMA codebook equals
    that of one process seeing both ranks' data."""
    torch.manual_seed(1)
    data = [[torch.randn(3, 2, 2, 2) * (r + 1) for _ in range(5)] for r in range(2)]
    results = [str(tmp_path / f"r{r}.pt") for r in range(2)]
    init = f"file://{tmp_path / 'rendezvous'}"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(_rank, args=(2, init, data, results), nprocs=2, join=True)
    a, b = (torch.load(p) for p in results)
    for part in ("ema", "restart"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    torch.manual_seed(0)
    single = VectorQuantizer(6, 2, ema=True, decay=0.8, restart_threshold=0.0)
    single.initialized.fill_(True)
    single.train()
    for step in range(5):
        single(torch.cat([data[0][step], data[1][step]]))
    assert torch.allclose(single.embed, a["ema"]["embed"], atol=1e-5)
    assert torch.allclose(single.cluster_size, a["ema"]["cluster_size"], atol=1e-5)


def test_codebook_starts_on_encoder_outputs():
    torch.manual_seed(0)
    vq = VectorQuantizer(8, 3)
    z = torch.randn(2, 3, 4, 4) * 10 + 50  # far from the random initial codes
    vq.train()
    vq(z)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 3)
    lo, hi = flat.min(0).values, flat.max(0).values
    assert ((vq.embed >= lo - 0.1) & (vq.embed <= hi + 0.1)).all()  # within the data
    assert float(vq.perplexity) > 3  # no collapse onto one code at the start


@pytest.mark.parametrize("seed", range(5))
def test_kmeans_start_puts_one_code_on_each_cluster(seed):
    """Four tight, well separated clusters and four codes: the k-means start (k-means++ seeds
    and Lloyd steps) gives each cluster its own code at its centre, so all four are used
    equally from the first batch (random picks would double up on a cluster 91% of the time)."""
    torch.manual_seed(seed)
    centres = torch.tensor([[0.0, 0], [20, 0], [0, 20], [20, 20]])
    flat = (centres.repeat_interleave(16, 0) + 0.1 * torch.randn(64, 2))
    vq = VectorQuantizer(4, 2)
    vq.train()
    vq(flat.reshape(1, 8, 8, 2).permute(0, 3, 1, 2))
    dist = torch.cdist(centres, vq.embed.detach())
    assert (dist.min(1).values < 0.2).all() and len(set(dist.argmin(1).tolist())) == 4
    assert abs(float(vq.perplexity) - 4) < 1e-3


def test_epoch_usage_is_over_the_epoch_not_the_batch():
    """Perplexity and dead codes over every vector of the epoch: the same for batches of 2 or
    of 16; then reset. A single batch's perplexity depends on the batch."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(16, 2, 2, 2, generator=g)
    result = []
    for batch in (2, 16):
        vq = VectorQuantizer(8, 2, restart_threshold=0.0)
        with torch.no_grad():
            vq.embed.copy_(torch.randn(8, 2, generator=torch.Generator().manual_seed(1)) * 2)
        vq.initialized.fill_(True)
        vq.train()
        with torch.no_grad():
            for i in range(0, 16, batch):
                vq(z[i:i + batch])
        result.append((vq.epoch_usage(), float(vq.perplexity)))
        assert float(vq.epoch_counts.sum()) == 0  # reset for the next epoch
    (a, last_a), (b, last_b) = result
    assert a == b and 1 < a["perplexity"] <= 8 and a["dead_codes"] >= 0
    assert last_a != last_b  # what a per-batch figure would have logged
    flat = z.permute(0, 2, 3, 1).reshape(-1, 2)
    used = len(set(torch.cdist(flat, vq.embed.detach()).argmin(1).tolist()))
    assert a["dead_codes"] == 8 - used


@pytest.mark.parametrize("ema", [False, True])
def test_perplexity_counts_used_codes(ema):
    vq = VectorQuantizer(4, 2, ema=ema)
    with torch.no_grad():
        vq.embed.copy_(torch.tensor([[0.0, 0], [10, 10], [-10, 10], [10, -10]]))
    z = torch.tensor([[0.0, 0], [10, 10]]).repeat(8, 1).T.reshape(1, 2, 4, 4)
    vq.eval()
    vq(z)
    assert abs(float(vq.perplexity) - 2.0) < 1e-4  # two codes used equally
