"""One protocol test suite for every model, built in or a user's (tests/fixtures/user_model.py).

Each case is small so the suite stays fast; every assertion is one the protocol promises:
shapes, log_weights == log_joint - log q on the same draws, log_joint at latents the model did
not draw, sampling and reconstruction shapes and ranges, declared capabilities that hold, a
disjoint phi/theta split, and a save/load round trip through the run's model spec.
"""

import math
from pathlib import Path

import pytest
import torch

from vaelab.distributions import gaussian_params
from vaelab.models import build_model, from_spec, resolve_class, spec
from vaelab.models.base import Model

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "user_model.py"

CASES = {  # name: (model, options, x_shape, likelihood)
    "vae": ("vae", {"hidden": 16, "latent": 3}, (1, 6, 6), "bernoulli"),
    "vae-2layers": ("vae", {"layers": 2, "hidden": 16, "latent": 3}, (1, 6, 6), "bernoulli"),
    "vae-gaussian": ("vae", {"hidden": 16, "latent": 3}, (1, 4, 5), "gaussian"),
    "vae-logistic-rgb": ("vae", {"hidden": 16, "latent": 3}, (3, 4, 4), "logistic"),
    "vae-categorical": ("vae", {"hidden": 16, "latent": 3}, (1, 3, 3), "categorical"),
    "convvae": ("convvae", {"latent": 3, "channels": 4, "hidden": 16}, (1, 8, 8), "bernoulli"),
    "convvae-rgb": ("convvae", {"latent": 3, "channels": 4, "hidden": 16}, (3, 8, 12),
                    "logistic"),
    "factorvae": ("factorvae", {"latent": 3, "channels": 4, "hidden": 16, "disc_hidden": 8},
                  (1, 8, 8), "bernoulli"),
    "pixelvae": ("pixelvae", {"latent": 3, "pixel_layers": 2, "pixel_channels": 8,
                              "cond_channels": 4, "enc_channels": 4}, (1, 8, 8), "bernoulli"),
    "pixelvae-256": ("pixelvae", {"latent": 3, "pixel_layers": 1, "pixel_channels": 8,
                                  "cond_channels": 4, "enc_channels": 4}, (1, 4, 4),
                     "categorical"),
    "pixelcnn": ("pixelcnn", {"pixel_layers": 2, "pixel_channels": 8}, (1, 5, 5), "bernoulli"),
    "vqvae": ("vqvae", {"num_codes": 8, "code_dim": 4, "channels": 8}, (1, 8, 8), "bernoulli"),
    "vqvae2": ("vqvae2", {"num_codes": 8, "code_dim": 4, "channels": 8}, (1, 8, 8),
               "bernoulli"),
    "vqvae-rgb": ("vqvae", {"num_codes": 8, "code_dim": 4, "channels": 8}, (3, 8, 8),
                  "categorical"),
    "linear_gaussian": ("linear_gaussian", {"latent": 2}, (5,), "gaussian"),
    "linear_gaussian-full": ("linear_gaussian", {"latent": 3, "posterior": "full"}, (5,),
                             "gaussian"),
    "vae-vamp": ("vae", {"hidden": 16, "latent": 3, "prior": "vamp", "components": 5},
                 (1, 6, 6), "bernoulli"),
    "vae-mog": ("vae", {"hidden": 16, "latent": 3, "prior": "mog", "components": 5},
                (1, 6, 6), "bernoulli"),
    "vae-full": ("vae", {"hidden": 16, "latent": 3, "posterior": "full"}, (1, 6, 6),
                 "bernoulli"),
    "vae-iaf": ("vae", {"hidden": 16, "latent": 3, "posterior": "iaf"}, (1, 6, 6),
                "bernoulli"),
    "gatedvae": ("gatedvae", {"hidden": 8, "latent": 3}, (1, 6, 6), "bernoulli"),
    "gatedvae-hvae-vamp": ("gatedvae", {"levels": 2, "prior": "vamp", "hidden": 8, "latent": 3,
                                        "components": 5}, (1, 6, 6), "bernoulli"),
    "sbn": ("sbn", {"units": 3, "bernoulli_layers": 2, "sbn_hidden": 4}, (1, 4, 4),
            "bernoulli"),
    "categorical": ("categorical", {"variables": 2, "categories": 3}, (1, 4, 4), "bernoulli"),
    "user": (f"{FIXTURE}:TinyConvVAE", {"latent": 3, "channels": 4}, (1, 8, 12), "bernoulli"),
}


def make(case: str) -> tuple[Model, torch.Tensor]:
    name, opts, shape, lik = CASES[case]
    torch.manual_seed(0)
    m = build_model(name, opts, shape, lik)
    g = torch.Generator().manual_seed(1)
    if lik == "bernoulli":
        x = torch.bernoulli(torch.full((4, *shape), 0.3), generator=g)
    elif lik in ("logistic", "categorical"):
        x = torch.randint(0, 256, (4, *shape), generator=g).float() / 255
    else:
        x = torch.rand(4, *shape, generator=g)
    return m, x


@pytest.fixture(params=list(CASES))
def case(request):
    return request.param


def test_shapes_of_every_piece(case):
    m, x = make(case)
    B, K, D = len(x), 3, m.latent_dim
    q = m.posterior(x)
    assert tuple(q.batch_shape) == (B,) and tuple(q.event_shape) == (D,)
    z = q.rsample((K,)) if q.has_rsample else q.sample((K,))
    assert z.shape == (K, B, D) and q.log_prob(z).shape == (K, B)
    assert m.prior.log_prob(z).shape == (K, B)
    assert m.log_likelihood(x, z).shape == (K, B)
    assert m.log_joint(x, z).shape == (K, B) and m.log_weights(x, K).shape == (K, B)
    assert sum(m.latent_sizes) == D


def test_log_weights_are_log_joint_minus_log_q_on_the_same_draws(case):
    m, x = make(case)
    m.eval()
    torch.manual_seed(5)
    lw = m.log_weights(x, 4)
    torch.manual_seed(5)
    q = m.posterior(x)
    z = q.rsample((4,)) if q.has_rsample else q.sample((4,))
    assert torch.allclose(lw, m.log_joint(x, z) - q.log_prob(z), atol=1e-5)
    assert torch.isfinite(lw).all()
    if m.capabilities.discrete_data:
        assert (m.log_likelihood(x, z) <= 1e-5).all()  # a probability mass is at most 1


def test_log_joint_at_latents_the_model_did_not_draw(case):
    m, x = make(case)
    if m.capabilities.latent == "continuous":
        z = m.prior.sample((2, len(x)))  # from the prior, not from q
        z = z + 0.1 * torch.randn_like(z)
    else:  # deterministic or absent latents: any valid code map (from the prior)
        z = m.prior.sample((2, len(x)))
    lj = m.log_joint(x, z)
    assert lj.shape == (2, len(x)) and torch.isfinite(lj).all()
    assert torch.allclose(lj, m.prior.log_prob(z) + m.log_likelihood(x, z))


def test_sampling_and_reconstruction(case):
    m, x = make(case)
    m.eval()
    s, r = m.sample(3), m.reconstruct(x)
    assert s.shape == (3, *m.x_shape) and r.shape == x.shape
    if not case.startswith("linear_gaussian"):  # images in [0, 1]
        assert 0 <= float(s.min()) and float(s.max()) <= 1
        assert 0 <= float(r.min()) and float(r.max()) <= 1


def test_declared_capabilities_hold(case):
    m, x = make(case)
    c = m.capabilities
    q = m.posterior(x)
    if c.gaussian_posterior:
        loc, scale = gaussian_params(q)
        assert loc.shape == (len(x), m.latent_sizes[0]) and (scale > 0).all()
    if c.standard_normal_prior:
        z = torch.randn(7, m.latent_dim)
        exact = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        assert torch.allclose(m.prior.log_prob(z), exact, atol=1e-5)
    if c.analytic_kl:  # against Monte Carlo, 4 standard errors
        with torch.no_grad():
            z = q.sample((20000,))
            mc = q.log_prob(z) - m.prior.log_prob(z)
            se = mc.std(0) / math.sqrt(len(mc))
            assert ((mc.mean(0) - m.analytic_kl(q)).abs() < 4 * se + 1e-4).all()
    aux = m.auxiliary_loss(q)
    assert (aux is not None) == c.auxiliary_loss
    if aux is not None:
        assert aux.shape == (len(x),) and (aux >= 0).all()
    if c.latent == "none":
        assert m.latent_dim == 0 and torch.allclose(m.log_weights(x, 3)[0],
                                                    m.log_weights(x, 3)[2])
    if c.latent == "discrete":  # values in {0, 1}; a relaxation whose hard draw is one of them
        from vaelab.distributions import Relaxable

        z = q.sample((5,))
        assert ((z == 0) | (z == 1)).all() and isinstance(q, Relaxable)
        soft, hard = q.relaxed_sample((5,), 0.5)
        assert soft.shape == hard.shape == z.shape and ((hard == 0) | (hard == 1)).all()
        assert 0 <= float(soft.min()) and float(soft.max()) <= 1
        assert m.latent_support_size() == len(m.prior.enumerate_support())
    else:
        assert m.latent_support_size() is None


def test_simulated_data_and_ais_through_the_protocol(case):
    """A model that declares ``simulates_data`` draws x ~ p(x|z) of its own shape that its
    likelihood scores finitely; AIS (both initial distributions) and local variational
    inference run on every continuous-latent model through the protocol alone."""
    from vaelab.eval.ais import AISConfig, anneal
    from vaelab.eval.local_vi import LocalVIConfig, local_vi

    m, x = make(case)
    if m.capabilities.simulates_data:
        z = m.prior.sample((2,))
        xs = m.sample_data(z)
        assert xs.shape == (2, *m.x_shape)
        assert torch.isfinite(m.log_likelihood(xs, z[None])).all()
    if m.capabilities.latent != "continuous":
        return
    for init in ("prior", "posterior"):
        r = anneal(m, x, AISConfig(steps=2, chains=2, leapfrog=2, init=init))
        assert r.log_px.shape == (len(x),) and torch.isfinite(r.log_px).all()
    v = local_vi(m, x, LocalVIConfig(max_steps=3, check_every=1, eval_samples=4))
    assert v.elbo.shape == (len(x),) and torch.isfinite(v.elbo).all()
    assert all(p.requires_grad for p in m.parameters())  # restored after the frozen tools


def test_parameters_split_into_phi_and_theta(case):
    m, _ = make(case)
    phi = {id(p) for p in m.inference_parameters()}
    theta = {id(p) for p in m.generative_parameters()}
    assert not phi & theta and phi | theta == {id(p) for p in m.parameters()}
    assert theta and (phi or m.capabilities.latent == "none")


def test_spec_round_trip_rebuilds_the_same_model(case, tmp_path):
    m, x = make(case)
    s = spec(m)
    again = from_spec(s)
    assert type(again) is type(m) and again.x_shape == m.x_shape
    again.load_state_dict(m.state_dict())
    m.eval()
    again.eval()
    z = m.prior.sample((2, len(x)))
    assert torch.allclose(m.log_joint(x, z), again.log_joint(x, z), atol=1e-5)


def test_a_users_class_is_found_by_file_or_module():
    cls = resolve_class(f"{FIXTURE}:TinyConvVAE")
    assert issubclass(cls, Model) and cls.__name__ == "TinyConvVAE"
    assert resolve_class("tests.fixtures.user_model:TinyConvVAE").__name__ == "TinyConvVAE"
    args = {"latent": 3, "channels": 4, "x_shape": [1, 8, 8]}
    s = spec(cls(latent=3, channels=4, x_shape=(1, 8, 8)))  # loaded from its file
    assert s == {"class": f"{FIXTURE}:TinyConvVAE", "args": args, "source": str(FIXTURE)}
    from tests.fixtures.user_model import TinyConvVAE  # an importable module

    s = spec(TinyConvVAE((1, 8, 8), 3, 4))
    assert s == {"class": "tests.fixtures.user_model:TinyConvVAE", "args": args,
                 "source": str(FIXTURE)}


@pytest.mark.parametrize("target,match", [
    ("nofile.py:X", "does not exist"),
    ("json:dumps", "not a subclass"),
    ("no.such.module:X", "cannot import"),
    ("vae2", "registered name"),
])
def test_bad_model_names(target, match):
    from vaelab.errors import ConfigError

    with pytest.raises(ConfigError, match=match):
        resolve_class(target)


def test_models_without_an_encoder_submodule_must_say_so():
    from vaelab.errors import ConfigError

    class NoEncoder(Model):
        def posterior(self, x):  # pragma: no cover - not called
            raise NotImplementedError

        prior = None
        log_likelihood = generate = posterior

    with pytest.raises(ConfigError, match="no submodule named 'encoder'"):
        NoEncoder((1, 2, 2), 1).inference_parameters()


def test_input_of_the_wrong_shape_is_one_clear_error():
    from vaelab.errors import ConfigError

    m, _ = make("vae")
    with pytest.raises(ConfigError, match=r"expects inputs of shape \[B, 1, 6, 6\]"):
        m.log_weights(torch.zeros(2, 36), 1)


@pytest.mark.parametrize("case", ["linear_gaussian", "vae-2layers", "convvae-rgb", "user"])
def test_models_run_in_double_precision(case):
    m, x = make(case)
    m = m.double()
    lw = m.log_weights(x.double(), 5)
    assert lw.dtype == torch.float64 and torch.isfinite(lw).all()
    if case == "linear_gaussian":  # the closed forms too
        assert m.exact_log_marginal(x.double()).dtype == torch.float64
