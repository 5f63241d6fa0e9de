"""Gated PixelCNN: causality (by gradients), no blind spot, exact likelihood = product of
conditionals, normalisation, and sampling that reproduces the model's distribution."""

import itertools
import math

import pytest
import torch

from vaelab.models.pixelcnn import PixelCNN


def _dependence(m, x, i, j, **cond):
    x = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(m.logits(x, **cond)[0, i, j].sum(), x)
    return g[0, 0].abs() > 0


@pytest.mark.parametrize("n_layers,kernel,levels", [(1, 3, 2), (2, 5, 2), (4, 3, 2), (3, 3, 256)])
def test_output_never_depends_on_current_or_later_pixels(n_layers, kernel, levels):
    torch.manual_seed(0)
    H, W = 7, 6
    m = PixelCNN(n_layers, 8, kernel, levels, cond_dim=3, cond_channels=2)
    x = torch.randint(0, levels, (1, 1, H, W)).float()
    cond = dict(cond_vec=torch.randn(1, 3), cond_map=torch.randn(1, 2, H, W))
    order = torch.arange(H * W).view(H, W)
    for i, j in itertools.product(range(H), range(W)):
        dep = _dependence(m, x, i, j, **cond)
        assert not dep[order >= i * W + j].any(), (i, j)


def test_no_blind_spot():
    """After a few layers, pixel (i, j) sees every earlier pixel within its receptive field,
    including those up and to the right that a plain masked PixelCNN misses."""
    torch.manual_seed(0)
    m = PixelCNN(4, 8, 3)
    x = torch.bernoulli(torch.full((1, 1, 9, 9), 0.5))
    dep = _dependence(m, x, 6, 4)
    assert dep[5, 5] and dep[5, 6] and dep[4, 7] and dep[3, 8]  # up-right: the blind spot
    assert dep[6, :4].all() and dep[2:6, 1:9].all()


def test_log_prob_is_the_sum_of_one_pixel_conditionals():
    torch.manual_seed(0)
    H, W = 4, 5
    m = PixelCNN(3, 8, 3, cond_dim=2)
    x = torch.bernoulli(torch.full((2, 1, H, W), 0.4))
    c = torch.randn(2, 2)
    total = torch.zeros(2)
    for i, j in itertools.product(range(H), range(W)):
        # pixels from (i, j) on are replaced by noise: the conditional must not change
        xi = x.clone().view(2, -1)
        xi[:, i * W + j:] = torch.bernoulli(torch.full_like(xi[:, i * W + j:], 0.5))
        logit = m.logits(xi.view(2, 1, H, W), cond_vec=c)[:, i, j]
        total += torch.distributions.Bernoulli(logits=logit).log_prob(x[:, 0, i, j])
    assert torch.allclose(total, m.log_prob(x, cond_vec=c), atol=1e-4)


def test_distribution_is_normalised():
    torch.manual_seed(0)
    m = PixelCNN(2, 4, 3)
    configs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=6))).view(-1, 1, 2, 3)
    with torch.no_grad():
        assert math.isclose(float(m.log_prob(configs).exp().sum()), 1.0, rel_tol=1e-5)
    g = PixelCNN(2, 4, 3, levels=256)
    grey = torch.tensor(list(itertools.product(range(256), repeat=2))).float().view(-1, 1, 1, 2)
    with torch.no_grad():
        assert math.isclose(float(g.log_prob(grey).exp().sum()), 1.0, rel_tol=1e-4)


def test_sampling_reproduces_the_model_distribution():
    """On a 2x2 binary model (16 images), sample frequencies match exp(log p) within 4 s.e."""
    torch.manual_seed(0)
    m = PixelCNN(2, 8, 3)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3)  # a peaked, non-uniform distribution
    configs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4))).view(-1, 1, 2, 2)
    probs = m.log_prob(configs).exp().detach()
    n = 20000
    s = m.sample(n, (2, 2)).view(n, 4)
    codes = (s * torch.tensor([8.0, 4.0, 2.0, 1.0])).sum(1).long()
    freq = torch.bincount(codes, minlength=16).float() / n
    se = (probs * (1 - probs) / n).sqrt()
    assert ((freq - probs).abs() < 4 * se + 1e-3).all()
    assert probs.max() > 0.15  # the check is not against a uniform distribution


def test_factorized_decoder_needs_a_conditioning_map():
    with pytest.raises(ValueError, match="conditioning map"):
        PixelCNN(0, 8, 3)
    m = PixelCNN(0, 8, 3, cond_channels=2)
    cmap = torch.randn(1, 2, 3, 3)
    x = torch.zeros(1, 1, 3, 3).requires_grad_()
    (g,) = torch.autograd.grad(m.logits(x, cond_map=cmap).sum(), x, allow_unused=True)
    assert g is None  # conditionally independent pixels


def test_dropout_acts_in_training_only_and_keeps_the_model_causal():
    """Dropout (PixelCNN++'s regularizer) is elementwise, so a training pass still never lets a
    pixel see itself or a later one; in evaluation the network is the one without dropout, so
    log p(x) stays exact and normalized."""
    torch.manual_seed(0)
    H, W = 5, 4
    m = PixelCNN(3, 8, 3, dropout=0.5)
    x = torch.bernoulli(torch.full((1, 1, H, W), 0.5))
    order = torch.arange(H * W).view(H, W)
    m.train()
    for i, j in itertools.product(range(H), range(W)):
        assert not _dependence(m, x, i, j)[order >= i * W + j].any(), (i, j)
    assert not torch.allclose(m.logits(x), m.logits(x))  # a fresh mask each training pass
    plain = PixelCNN(3, 8, 3)
    plain.load_state_dict(m.state_dict())
    m.eval()
    assert torch.equal(m.logits(x), plain.logits(x))
    configs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=6))).view(-1, 1, 2, 3)
    with torch.no_grad():
        assert math.isclose(float(m.log_prob(configs).exp().sum()), 1.0, rel_tol=1e-5)
