"""VAE information diagnostics against a linear-Gaussian model, where q(z) is Gaussian and
I(z; x) under the encoder's joint is exact: I = 1/2 log det(A C A^T + S) - sum log s."""

import math

import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from tests.helpers import linear_gaussian, sample_data
from vaelab.eval import vae_information
from vaelab.info import (
    log_aggregate_posterior,
    mutual_information,
    variational_mi_bound,
)
from vaelab.models import VAE, VAEConfig


def _exact_encoder_mi(m):
    with torch.no_grad():
        A = m.encoder.linear.weight
        s = m.encoder.std
        C = m.W @ m.W.T + torch.diag(m.psi)
        cov = A @ C @ A.T + torch.diag(s ** 2)
        return float(0.5 * torch.logdet(cov) - torch.log(s).sum()), cov, s


def test_three_mi_estimates_match_the_exact_value():
    m = linear_gaussian(D=6, d=2)
    x = sample_data(m, 3000)
    exact, cov, s = _exact_encoder_mi(m)
    with torch.no_grad():
        q = m.encoder(x)
    r = mutual_information(q.loc, q.scale, samples=4)
    for k in ("mi_entropy_form", "mi_kl_form", "mi_elbo_surgery", "mi_upper"):
        assert abs(r[k].value - exact) < 4 * r[k].stderr + 0.02, (k, r[k], exact)
    # InfoNCE-style lower bound <= I <= leave-one-out upper bound (up to MC error)
    assert r["mi_kl_form"].value - 4 * r["mi_kl_form"].stderr < exact
    assert exact < r["mi_upper"].value + 4 * r["mi_upper"].stderr
    # pieces: H(q(z)) of the Gaussian aggregate posterior, and the ELBO-surgery identity
    h_agg = float(torch.distributions.MultivariateNormal(torch.zeros(2), cov).entropy())
    assert abs(r["aggregate_entropy"].value - h_agg) < 4 * r["aggregate_entropy"].stderr + 0.02
    split = r["mi_kl_form"].value + r["kl_aggregate_prior"].value
    assert abs(split - r["average_kl"].value) < 4 * r["average_kl"].stderr


def test_lecture_bound_is_below_the_true_mutual_information():
    """Under the model's joint p(z)p(x|z), H(z) + E[log q(z|x)] <= I(z;x) = -1/2 log det S."""
    m = linear_gaussian(D=6, d=2, q_noise=0.3)
    torch.manual_seed(3)
    with torch.no_grad():
        z = torch.randn(20000, 2)
        x = m.decoder(z).sample()
        log_q = m.posterior(x).log_prob(z)
        S = m.exact_posterior(x[:1]).covariance_matrix[0]
    exact = float(-0.5 * torch.logdet(S))
    h_z = float(torch.distributions.Normal(0.0, 1.0).entropy()) * 2
    bound = variational_mi_bound(h_z, log_q)
    assert bound.value + 4 * bound.stderr < exact
    # and with the exact posterior's (diagonal) form the bound closes
    m2 = linear_gaussian(D=6, d=2, exact_q=True)
    with torch.no_grad():
        x2 = m2.decoder(z).sample()
        tight = variational_mi_bound(h_z, m2.posterior(x2).log_prob(z))
        S2 = m2.exact_posterior(x2[:1]).covariance_matrix[0]
    assert abs(tight.value - float(-0.5 * torch.logdet(S2))) < 4 * tight.stderr + 1e-3


def test_vae_information_report_is_consistent():
    torch.manual_seed(0)
    m = VAE(VAEConfig(latent=6, hidden=32))
    x = torch.bernoulli(torch.rand(300, 1, 28, 28))
    r = vae_information(m, x, n=300)
    assert len(r["per_dimension_kl"]) == 6
    assert abs(sum(r["per_dimension_kl"]) - r["average_kl"]["value"]) < 1e-6
    assert abs(r["rate"]["value"] - r["average_kl"]["value"]) < 1e-5
    assert 0 <= r["mi_kl_form"]["value"] <= r["max_mi_log_n"] + 4 * r["mi_kl_form"]["stderr"]


def test_per_dimension_kl_only_against_a_per_dimension_prior():
    """With a VampPrior there is no per-dimension KL to report (the prior does not factorize):
    the report gives the activity statistic instead, and one active-units count that agrees
    with it."""
    from vaelab.eval.active_units import posterior_means

    torch.manual_seed(0)
    m = VAE(VAEConfig(latent=5, hidden=32, prior="vamp", components=7))
    x = torch.bernoulli(torch.rand(200, 1, 28, 28))
    r = vae_information(m, x, n=200)
    assert "per_dimension_kl" not in r
    var = posterior_means(m, x)[0].double().var(0, unbiased=False)
    assert torch.allclose(torch.tensor(r["posterior_mean_variance"], dtype=torch.float64), var)
    assert r["active_dimensions"] == (var > 0.01).tolist()
    assert r["active_units"] == sum(r["active_dimensions"]) and "0.01" in \
        r["active_units_definition"]


def test_diagnostics_agree_on_a_trained_mnist_model(tmp_path):
    """On a model trained on the embedded MNIST digits: the ELBO-surgery split adds up to the
    average KL, and the three I(z;x) estimates agree within their errors."""
    import vaelab

    vaelab.train(out=tmp_path, epochs=3, hidden=64, latent=10, eval_k=10, batch_size=100,
                 progress=False)
    run = vaelab.load_run(tmp_path)
    r = vae_information(run.model, run.data.test, n=1000, samples=4)
    split = r["mi_kl_form"]["value"] + r["kl_aggregate_prior"]["value"]
    assert abs(split - r["average_kl"]["value"]) < 4 * r["average_kl"]["stderr"]
    vals = [r[k]["value"] for k in ("mi_entropy_form", "mi_kl_form", "mi_elbo_surgery")]
    errs = [r[k]["stderr"] for k in ("mi_entropy_form", "mi_kl_form", "mi_elbo_surgery")]
    assert max(vals) - min(vals) < 4 * max(errs) + 0.05
    assert 1.0 < vals[1] <= r["max_mi_log_n"] + 1e-6  # informative, and InfoNCE <= log N
    assert r["mi_upper"]["value"] >= vals[1] - 4 * r["mi_upper"]["stderr"]
    assert r["kl_aggregate_prior"]["value"] > -4 * r["kl_aggregate_prior"]["stderr"]
    assert r["rate"]["value"] > vals[1]  # rate = I + KL(q(z)||p(z)) >= I
    assert r["active_units"] >= 2


def test_log_aggregate_posterior_is_the_mixture_density():
    g = torch.Generator().manual_seed(0)
    loc = torch.randn(37, 5, generator=g, dtype=torch.float64)
    scale = torch.rand(37, 5, generator=g, dtype=torch.float64) + 0.2
    z = loc + scale * torch.randn(37, 5, generator=g, dtype=torch.float64)
    comps = Independent(Normal(loc, scale), 1)
    mix = MixtureSameFamily(Categorical(logits=torch.zeros(37, dtype=torch.float64)), comps)
    assert torch.allclose(log_aggregate_posterior(z, loc, scale, chunk=8), mix.log_prob(z))
    # leaving out component i for z_i: the mixture of the other 36
    table = comps.log_prob(z[:, None])  # [N, M]
    table.fill_diagonal_(-math.inf)
    loo = torch.logsumexp(table, 1) - math.log(36)
    assert torch.allclose(log_aggregate_posterior(z, loc, scale, exclude_self=True, chunk=8), loo)


def test_generative_joint_bound_is_tight_for_the_exact_posterior_and_below_otherwise():
    """Barber-Agakov under the model's joint: I_p(z;x) = 1/2 log det(I + W^T Psi^-1 W) for the
    linear-Gaussian model; H(z) + E[log q(z|x)] equals it (within 4 standard errors) with the
    exact posterior as q and falls below it by E KL(p(z|x)||q(z|x)) with a mean-field q."""
    from vaelab.eval import generative_mi_bound
    from vaelab.models.linear_gaussian import LinearGaussianVAE

    torch.manual_seed(0)
    m = LinearGaussianVAE(6, 3, posterior="full")
    with torch.no_grad():
        m.decoder.linear.weight.normal_(0, 1.0)
        W, psi = m.W, m.psi
        exact = float(0.5 * torch.logdet(torch.eye(3) + W.T @ torch.diag(1 / psi) @ W))
    m.set_q_to_exact_posterior()
    tight = generative_mi_bound(m, 20000)
    assert abs(tight.value - exact) < 4 * tight.stderr + 1e-3 and exact > 1
    diag = LinearGaussianVAE(6, 3)
    diag.decoder.load_state_dict(m.decoder.state_dict())
    diag.set_q_to_posterior_diagonal()
    loose = generative_mi_bound(diag, 20000)
    assert loose.value < exact - 4 * loose.stderr - 0.05
