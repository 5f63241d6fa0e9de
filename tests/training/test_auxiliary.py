"""Auxiliary objectives in the engine: a network declared by the estimator (RELAX's surrogate
and eta) is stepped by its own Adam group on its own loss only, is checkpointed with its
optimiser state, resumes exactly, and is refused where the engine cannot train it."""

import json

import pytest
import torch

import vaelab
from vaelab.errors import ConfigError
from vaelab.training.checkpoint import load_latest

SBN = dict(dataset="embedded", model="sbn", units=8, bernoulli_layers=1, estimator="relax",
           eval_k=5, batch_size=200, progress=False)


def _metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_relax_trains_its_surrogate_on_its_own_and_resumes_exactly(tmp_path):
    whole, part = tmp_path / "whole", tmp_path / "part"
    vaelab.train(out=whole, epochs=2, **SBN)
    vaelab.train(out=part, epochs=1, **SBN)
    vaelab.train(out=part, epochs=2, resume=True, progress=False)
    assert _metrics(part) == [{**a, "epoch_seconds": b["epoch_seconds"]}
                              for a, b in zip(_metrics(whole), _metrics(part))]
    tensors, header, _ = load_latest(whole / "checkpoints" / "last.safetensors")
    groups = header["optimizer"]["param_groups"]
    assert [g.get("aux") for g in groups] == [None, "relax_surrogate"]
    assert groups[1]["lr"] == 1e-3  # its own setting, beside the main group's schedule
    eta = float(tensors["estimator.eta"])
    assert eta != 1.0  # its optimiser moved it
    last = tensors["estimator.surrogate.2.weight"]
    assert last.abs().sum() > 0  # r started at zero and learned
    again = load_latest(part / "checkpoints" / "last.safetensors")[0]
    for k in ("estimator.eta", "estimator.surrogate.2.weight"):
        assert torch.equal(tensors[k], again[k])


def test_an_auxiliary_group_gets_only_its_own_gradient():
    """EagerUpdate: the main loss's gradient never reaches the auxiliary parameters, and the
    learning-rate schedule leaves their group alone."""
    from vaelab.estimators import make_estimator
    from vaelab.models import build_model
    from vaelab.objectives import make_objective
    from vaelab.training.config import OptimConfig
    from vaelab.training.loop import EagerUpdate, Step
    from vaelab.training.session import make_adam, set_lr

    torch.manual_seed(0)
    m = build_model("sbn", {"units": 3, "bernoulli_layers": 1}, (1, 2, 3), "bernoulli")
    est = make_estimator("relax", 1, 6)
    obj = make_objective("elbo")
    est.check(m, obj)
    step = Step(m, est, obj)
    opt = make_adam(step.param_groups(1e-3), OptimConfig(lr=1e-3))
    x = torch.bernoulli(torch.full((8, 1, 2, 3), 0.4))
    seen = {}
    real_step = opt.step

    def capture(*a, **k):
        seen.update({id(p): p.grad.clone() for p in opt.param_groups[1]["params"]})
        return real_step(*a, **k)
    opt.step = capture
    (aux,) = est.auxiliary_objectives()
    state = torch.get_rng_state()
    loss, _ = step(x)  # the draws the update will make: the side loss's own gradient
    own = torch.autograd.grad(step.side_losses[aux.name], aux.parameters, retain_graph=True,
                              allow_unused=True)
    main = torch.autograd.grad(loss, aux.parameters, allow_unused=True)
    assert not torch.allclose(main[0], own[0])  # the main loss would push eta elsewhere
    torch.set_rng_state(state)
    EagerUpdate(step, opt, step=step)(x)
    for p, g in zip(aux.parameters, own):
        assert torch.allclose(seen[id(p)], g, rtol=1e-5, atol=1e-7)
    set_lr(opt, 5e-5)
    assert opt.param_groups[0]["lr"] == 5e-5 and opt.param_groups[1]["lr"] == 1e-3


@pytest.mark.parametrize("extra, match", [({"compile": "default"}, "--compile off"),
                                          ({"grid": True}, "one by one")])
def test_where_the_engine_cannot_train_an_auxiliary_it_says_so(tmp_path, extra, match):
    if "grid" in extra:
        from vaelab.training.config import RunConfig
        from vaelab.training.stack_trainer import train_stack

        cfg = RunConfig.from_options({k: v for k, v in SBN.items() if k != "progress"})
        with pytest.raises(ConfigError, match=match):
            train_stack(cfg, tmp_path / "g", {"seed": [0, 1]}, progress=False)
    else:
        with pytest.raises(ConfigError, match=match):
            vaelab.train(out=tmp_path / "r", epochs=1, **SBN, **extra)
    assert not (tmp_path / "r").exists()


class _Critic(torch.nn.Module):
    """A stand-in for a density-ratio discriminator: a scalar read-out of z, fitted to z's
    first coordinate on its own loss."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.read = torch.nn.Linear(d, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.read(z).squeeze(-1)


def test_a_model_declares_an_auxiliary_network_and_the_engine_trains_it(tmp_path):
    """A user model with a critic beside it (as FactorVAE's discriminator): the critic learns
    its own target through its own group, the VAE trains as before, and a resumed run is
    exact."""
    from vaelab.models import VAE
    from vaelab.models.base import AuxiliaryObjective
    from vaelab.models.vae import VAEConfig

    class WithCritic(VAE):
        def __init__(self, hidden: int = 32, latent: int = 4) -> None:
            super().__init__(VAEConfig(x_shape=(1, 28, 28), hidden=hidden, latent=latent))
            self.critic = _Critic(latent)

        def auxiliary_objectives(self):
            return [AuxiliaryObjective("critic", tuple(self.critic.parameters()), 1e-2)]

        def side_losses(self, q, z):
            z = z.detach()
            return {"critic": ((self.critic(z) - z[..., 0]) ** 2).mean()}

        def inference_parameters(self):
            return list(self.encoder.parameters())

    def make():
        torch.manual_seed(0)
        return WithCritic(hidden=32, latent=4)

    opts = dict(dataset="embedded", eval_k=5, batch_size=200, progress=False)
    m = make()
    start = m.critic.read.weight.detach().clone()
    vaelab.train(out=tmp_path / "a", model=m, epochs=3, **opts)
    assert not torch.equal(m.critic.read.weight, start)
    with torch.no_grad():  # the critic fitted its target: z_1 read off z
        z = torch.randn(500, 4)
        assert ((m.critic(z) - z[:, 0]) ** 2).mean() < 0.5 * (z[:, 0] ** 2).mean()
    _, header, _ = load_latest(tmp_path / "a" / "checkpoints" / "last.safetensors")
    assert [g.get("aux") for g in header["optimizer"]["param_groups"]] == [None, "critic"]
    part = make()
    vaelab.train(out=tmp_path / "b", model=part, epochs=1, **opts)
    part = make()
    vaelab.train(out=tmp_path / "b", model=part, epochs=3, resume=True, progress=False)
    assert [r["train_elbo_k1"] for r in _metrics(tmp_path / "b")] == \
        [r["train_elbo_k1"] for r in _metrics(tmp_path / "a")]
