import math

import pytest
import torch

from tests.helpers import linear_gaussian, sample_data
from vaelab.eval import active_units, evaluate_bounds, posterior_means


def test_importance_sampled_log_likelihood_matches_exact():
    m = linear_gaussian(q_noise=0.03)  # a good but inexact q, as after training
    x = sample_data(m, 50)
    exact = m.exact_log_marginal(x).detach()
    res = evaluate_bounds(m, x, ks=(1, 5, 5000), max_samples=2000)  # forces chunking over K
    per = res["per_example"][5000]
    assert per.shape == (50,)
    assert float((per - exact.double()).abs().max()) < 0.3  # the worst-fit tail example
    assert abs(float(per.mean() - exact.double().mean())) < 0.01
    b = res["bounds"]
    assert b[1] < b[5] < b[5000] < float(exact.mean()) + 0.01
    assert res["stderr"][5000] > 0


def test_active_units_counts_units_whose_mean_varies():
    m = linear_gaussian(D=6, d=3)
    with torch.no_grad():
        m.encoder.linear.weight[1].zero_()  # unit 1's mean is constant in x
        m.encoder.linear.weight[2].mul_(1e-3)  # unit 2 barely moves
    x = sample_data(m, 500)
    (means,) = posterior_means(m, x)
    n, var = active_units(means)
    assert n == 1 and var[0] > 1e-2 and var[1] < 1e-12 and var[2] < 1e-2


def test_out_of_memory_halves_the_chunk_and_gives_the_same_bounds():
    """A GPU out-of-memory error in one chunk is retried with half as many samples per pass."""
    m = linear_gaussian()
    x = sample_data(m, 20)
    passes = []
    orig = m.log_weights

    def limited(x, K):
        passes.append(K * len(x))
        if K * len(x) > 400:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return orig(x, K)

    torch.manual_seed(0)
    ref = evaluate_bounds(m, x, ks=(1, 100), batch_size=20, max_samples=400)
    m.log_weights = limited
    torch.manual_seed(0)
    res = evaluate_bounds(m, x, ks=(1, 100), batch_size=20, max_samples=1600)
    assert passes[:3] == [1600, 800, 400] and max(passes[3:]) <= 400
    for k in (1, 100):
        assert torch.allclose(res["per_example"][k], ref["per_example"][k])
    # K = 1 over a large batch: the batch itself is split (a PixelCNN's exact likelihood)
    m.log_weights = orig
    torch.manual_seed(0)
    ref = evaluate_bounds(m, x, ks=(1,), batch_size=5, max_samples=5)

    def heavy(x, K):  # 40x the memory per sample-example product
        passes.append(40 * K * len(x))
        if 40 * K * len(x) > 200:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return orig(x, K)

    m.log_weights, passes[:] = heavy, []
    torch.manual_seed(0)
    res = evaluate_bounds(m, x, ks=(1,), batch_size=20, max_samples=20)
    assert passes[:3] == [800, 400, 200] and set(passes[2:]) == {200}
    assert torch.allclose(res["per_example"][1], ref["per_example"][1])


def test_deterministic_latents_are_evaluated_once():
    """A VQ-VAE's log-weights do not vary with the sample: every L_k is log p(x|z_q) + log p(c),
    computed in one pass instead of K."""
    from vaelab.models import build_model

    m = build_model("vqvae", {"num_codes": 8, "code_dim": 4, "channels": 8}, (1, 8, 8),
                    "bernoulli").eval()
    x = torch.bernoulli(torch.full((5, 1, 8, 8), 0.3))
    calls = []
    orig = m.log_weights
    m.log_weights = lambda x, K: calls.append(K) or orig(x, K)
    res = evaluate_bounds(m, x, ks=(1, 5000), max_samples=10_000)
    assert calls == [1]
    assert torch.allclose(res["per_example"][1], res["per_example"][5000])
    q = m.posterior(x)
    exact = m.log_joint(x, q.rsample((1,)))[0]
    assert torch.allclose(res["per_example"][1].float(), exact, atol=1e-4)


def test_evaluate_recipe_reports_bits_per_dim_and_a_seeded_subset():
    from vaelab.eval import evaluate, random_subset
    from vaelab.models import build_model

    m = build_model("vae", {"hidden": 16, "latent": 3}, (1, 6, 6), "bernoulli").eval()
    x = torch.bernoulli(torch.full((40, 1, 6, 6), 0.3))
    sub = random_subset(x, 10, seed=1)
    assert torch.equal(sub, random_subset(x, 10, seed=1)) and not torch.equal(sub, x[:10])
    out = evaluate(m, sub, ks=(1, 10))
    assert out["n_examples"] == 10 and out["nll_k"] == 10
    assert out["bits_per_dim"] == pytest.approx(out["nll"] / (36 * math.log(2)))
    assert len(out["active_units_per_layer"]) == 1


@pytest.mark.parametrize("chunks", [[12], [5, 7], [1] * 12, [3, 3, 3, 3], [7, 2, 3]])
def test_streamed_bounds_equal_the_grouped_bound_on_the_whole_matrix(chunks):
    """Draws arriving in any chunking (groups split across chunks included) give exactly
    grouped_iwae_bound of the full [K, B] matrix, for every k (K = 12, k = 1, 3, 5, 12)."""
    from vaelab.eval import GroupedBounds
    from vaelab.objectives import grouped_iwae_bound

    lw = torch.randn(12, 4, dtype=torch.float64) * 5
    acc = GroupedBounds([1, 3, 5, 12], 12, 4, lw.device)
    start = 0
    for c in chunks:
        acc.add(lw[start:start + c])
        start += c
    for k, v in acc.bounds().items():
        assert torch.allclose(v, grouped_iwae_bound(lw, k), atol=1e-12), k


def test_evaluation_memory_does_not_grow_with_K_and_absurd_K_is_refused():
    from vaelab.errors import ConfigError

    m = linear_gaussian()
    x = sample_data(m, 3)
    sizes = []
    orig = m.log_weights
    m.log_weights = lambda x, K: sizes.append(K) or orig(x, K)
    evaluate_bounds(m, x, ks=(1, 20000), max_samples=300)
    assert max(sizes) <= 300 and sum(sizes) == 3 * 20000  # never all 20000 draws at once
    with pytest.raises(ConfigError, match="K = 1000000000000 .* convention"):
        evaluate_bounds(m, x, ks=(1_000_000_000_000,))


def test_a_batch_of_one_example_evaluates():
    from vaelab.models import build_model

    for name in ("vqvae", "vae"):
        m = build_model(name, {}, (1, 8, 8), "bernoulli").eval()
        x = torch.bernoulli(torch.full((1, 1, 8, 8), 0.3))
        assert torch.isfinite(evaluate_bounds(m, x, ks=(1, 3))["per_example"][3]).all()


@pytest.mark.parametrize("q_noise,K,low", [(0.03, 2000, 0.6), (0.3, 50, 0.0)])
def test_monte_carlo_error_of_L_K_against_its_spread_over_repeated_evaluations(q_noise, K, low):
    """The delta-method Monte Carlo error of the mean L_K against the standard deviation of
    the mean over 40 independent evaluations (same 20 examples, fresh draws; that spread is
    itself known to +-11%). With a good q and large K (ESS in the hundreds) it holds to within
    40%; with heavy-tailed weights (a poor q, K = 50) it is too small, never too large."""
    m = linear_gaussian(q_noise=q_noise)
    x = sample_data(m, 20)
    means, mcs = [], []
    for seed in range(40):
        torch.manual_seed(seed)
        r = evaluate_bounds(m, x, ks=(1, K), max_samples=40000)
        means.append(r["bounds"][K])
        mcs.append(r["mc_stderr"])
    spread, mc = float(torch.tensor(means).std()), sum(mcs) / len(mcs)
    assert low * spread < mc < 1.3 * spread, (spread, mc, r["mean_ess"])


def test_repeated_evaluations_measure_the_monte_carlo_error():
    """With repeats, L_K is averaged over independent runs and its Monte Carlo error measured
    from their spread (over sqrt(R)); one run gives the delta-method estimate."""
    from vaelab.eval import evaluate

    m = linear_gaussian(q_noise=0.2)
    x = sample_data(m, 10)
    one = evaluate(m, x, ks=(1, 100), seed=0)
    many = evaluate(m, x, ks=(1, 100), seed=0, repeats=6)
    assert one["mc_method"] == "delta method" and many["mc_method"] == "measured over 6 runs"
    single = [evaluate(m, x, ks=(1, 100), seed=s)["bounds"]["100"] for s in range(6)]
    assert many["bounds"]["100"] == pytest.approx(sum(single) / 6, abs=1e-9)
    spread = float(torch.tensor(single, dtype=torch.float64).std()) / 6 ** 0.5
    assert many["nll_mc_stderr"] == pytest.approx(spread, rel=1e-6)
    # each example's value and Monte Carlo error: measured over the runs here too
    runs = torch.tensor([evaluate(m, x, ks=(1, 100), seed=s)["per_example"]["100"]
                         for s in range(6)], dtype=torch.float64)
    assert torch.allclose(torch.tensor(many["per_example"]["100"], dtype=torch.float64),
                          runs.mean(0))
    assert torch.allclose(torch.tensor(many["per_example_mc_stderr"], dtype=torch.float64),
                          runs.std(0) / 6 ** 0.5)


def test_the_per_example_values_recompute_every_printed_number():
    """evaluate keeps each example's L_k and the Monte Carlo error of its L_K: their mean and
    standard error are the bounds and their errors, sqrt(sum of squares) / N the delta method's
    error of the mean; each example's value is its own evaluation's (nothing mixed up)."""
    from vaelab.eval import evaluate

    m = linear_gaussian(q_noise=0.03)  # a good q: the delta method holds (ESS 51 of 100)
    x = sample_data(m, 12)
    out = evaluate(m, x, ks=(1, 10, 100), seed=0)
    for k in ("1", "10", "100"):
        v = torch.tensor(out["per_example"][k], dtype=torch.float64)
        assert len(v) == 12
        assert out["bounds"][k] == pytest.approx(float(v.mean()), abs=1e-12)
        assert out["bounds_stderr"][k] == pytest.approx(float(v.std() / 12 ** 0.5), rel=1e-9)
    mc = torch.tensor(out["per_example_mc_stderr"], dtype=torch.float64)
    assert (mc > 0).all()
    assert out["nll_mc_stderr"] == pytest.approx(float(mc.square().sum().sqrt() / 12), rel=1e-9)
    # each example's L_100 lies within a few of its Monte Carlo errors of its exact log p(x)
    exact = m.exact_log_marginal(x).detach().double()
    z = (torch.tensor(out["per_example"]["100"], dtype=torch.float64) - exact) / mc
    assert z.abs().max() < 4


@pytest.mark.parametrize("layers", [1, 2])
def test_compiled_log_weights_give_the_same_draws_and_bounds(layers):
    """evaluate_bounds(compile=True) changes the speed, not the numbers: with the same seed the
    per-example L_k equal the eager evaluation's (chunks of two shapes over K and examples)."""
    from vaelab.models import VAE, VAEConfig

    torch.manual_seed(0)
    m = VAE(VAEConfig(x_shape=(1, 6, 6), hidden=16, latent=3, layers=layers))
    x = torch.bernoulli(torch.full((7, 1, 6, 6), 0.3))
    res = []
    for compile in (False, True):
        torch.manual_seed(1)
        res.append(evaluate_bounds(m, x, ks=(1, 10, 250), batch_size=4, max_samples=400,
                                   compile=compile))
    for k in (1, 10, 250):
        assert torch.allclose(res[0]["per_example"][k], res[1]["per_example"][k], atol=1e-4)
    assert res[0]["mc_stderr"] == pytest.approx(res[1]["mc_stderr"], rel=1e-3)


def test_exact_enumeration_is_memory_bounded_and_exact(monkeypatch):
    """log p(x) by enumeration takes the latent values in chunks sized by the evaluation's
    memory bound (a running logsumexp), and gives the one-pass sum."""
    from vaelab import memory
    from vaelab.eval.exact import exact_log_marginal
    from vaelab.models import build_model

    torch.manual_seed(0)
    m = build_model("sbn", {"units": 12}, (1, 6, 6), "bernoulli").eval()
    x = torch.bernoulli(torch.full((8, 1, 6, 6), 0.3))
    with torch.no_grad():
        whole = exact_log_marginal(m, x, chunk=4096)
        monkeypatch.setattr(memory, "CPU_CHUNK_BYTES", 64 << 10)  # 64 KiB of activations
        seen = []
        real = m.log_joint
        monkeypatch.setattr(m, "log_joint", lambda x_, z: seen.append(z.shape[0]) or real(x_, z))
        chunked = exact_log_marginal(m, x)
    chunks = seen[2:]  # the memory probe: two samples of one example, then of it twice
    per, once = memory.activation_bytes(m, x)
    assert max(chunks) * len(x) * per + once <= 64 << 10
    assert len(chunks) > 1 and sum(chunks) == 4096
    assert torch.allclose(chunked, whole, atol=1e-5)


def test_paired_difference_is_image_by_image_and_only_on_the_same_images():
    """Two models scored on the same images: the difference of their NLLs with the standard
    error of the per-image differences (far below the unpaired error when the models are
    alike), the Monte Carlo errors in quadrature; None for other images, K or data."""
    from vaelab.eval import evaluate, paired_difference, subset_index

    a, b = linear_gaussian(q_noise=0.03), linear_gaussian(q_noise=0.2)
    x = sample_data(a, 40)
    index = subset_index(40, 30, 1)

    def scored(m, seed, idx=index, ks=(1, 100)):
        return {**evaluate(m, x[idx], ks=ks, seed=seed), "data": "toy", "split": "test",
                "per_example_index": idx.tolist()}

    ea, eb = scored(a, 0), scored(b, 1)
    d = paired_difference(ea, eb)
    assert d["diff"] == pytest.approx(eb["nll"] - ea["nll"], abs=1e-9)
    per = torch.tensor(ea["per_example"]["100"], dtype=torch.float64) - torch.tensor(
        eb["per_example"]["100"], dtype=torch.float64)
    assert d["stderr"] == pytest.approx(float(per.std() / 30 ** 0.5), rel=1e-9)
    assert d["mc_stderr"] == pytest.approx(math.hypot(ea["nll_mc_stderr"], eb["nll_mc_stderr"]))
    assert d["n_examples"] == 30 and d["k"] == 100
    # the same generative model under a worse q: a looser bound, clearly
    assert d["diff"] > 2 * math.hypot(d["stderr"], d["mc_stderr"])
    # the same model again with other draws: no difference, and each image's log p(x), which
    # both share, cancels in the pairing
    same = paired_difference(ea, scored(a, 1))
    assert abs(same["diff"]) < 4 * math.hypot(same["stderr"], same["mc_stderr"])
    assert same["stderr"] < 0.2 * same["unpaired_stderr"]
    assert paired_difference(ea, scored(b, 1, subset_index(40, 30, 2))) is None  # other images
    assert paired_difference(ea, scored(b, 1, ks=(1, 50))) is None  # another K
    assert paired_difference(ea, {**eb, "data": "other"}) is None
    assert paired_difference(ea, {k: v for k, v in eb.items() if k != "per_example"}) is None
    for damaged in ([1.0] * 29, ["a"] * 30, [float("nan")] * 30, 3.0, [[1.0]] * 30):
        assert paired_difference(ea, {**eb, "per_example": {"100": damaged}}) is None
