"""Paper configurations as named presets: the architecture, data, objective, optimiser, schedule
and evaluation protocol of a published row, its published number and where it comes from.

A preset is a set of ``vaelab train`` options (``options``) plus how the row is scored
(``eval_k`` importance samples on the whole test split, from the ``checkpoint`` the paper
scored). ``vaelab train --preset NAME`` starts from them; flags given beside it override them,
and the run's config.json records the preset and every override.

Tables (``TABLES``) group the presets of one published table; ``vaelab reproduce TABLE`` trains
and scores their rows. Numbers: negative test log-likelihood in nats (lower is better).

Our data differ from the papers' where noted in ``data_note``: only the statically binarized
split of Larochelle & Murray (50k/10k/10k) is at hand offline; Burda et al. binarized the 60k
grey MNIST training images dynamically (``--dataset mnist`` offers that, downloaded on first
use).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vaelab.errors import ConfigError

BURDA = ("Burda, Grosse & Salakhutdinov (2016), Importance Weighted Autoencoders, ICLR; "
         "Table 1, MNIST column (test NLL, k = 5000)")
TOMCZAK = ("Tomczak & Welling (2018), VAE with a VampPrior, AISTATS; Table 2, static MNIST "
           "(test NLL, K = 5000)")
STATIC_NOTE = ("static binarization (Larochelle & Murray), 50k train / 10k valid / 10k test, "
               "as in the paper")
BURDA_NOTE = ("the paper binarized grey MNIST dynamically (60k train, no validation); this "
              "preset uses the static split at hand (50k train): expect a gap of about 1-2 "
              "nats from the smaller, fixed training set (the static split overfits); "
              "--dataset mnist gives the paper's data")


@dataclass(frozen=True)
class Preset:
    """One published row: ``options`` for ``vaelab train``, the number and its source."""

    name: str            # table/row, e.g. burda2015/iwae-k50-l2
    row: str             # the paper's own label for the row
    options: dict
    published: float     # test NLL in nats
    citation: str
    data_note: str
    eval_k: int = 5000
    checkpoint: str = "best"  # the checkpoint the paper scored: best (early stopping) or last

    @property
    def table(self) -> str:
        return self.name.split("/")[0]

    @property
    def row_name(self) -> str:
        return self.name.split("/")[1]


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    rows: tuple[Preset, ...] = field(default_factory=tuple)

    def row(self, name: str) -> Preset:
        for p in self.rows:
            if p.row_name == name:
                return p
        raise ConfigError(f"table {self.name} has no row {name!r}; its rows: "
                          f"{', '.join(p.row_name for p in self.rows)}")


# Burda et al., appendix: Adam(0.9, 0.999, eps 1e-4), minibatches of 20, 3^i passes at
# 1e-3 * 10^(-i/7) for i = 0..7 (3280 passes), tanh MLPs 784-200-200-50 (one layer) and
# 784-200-200-100-100-100-50 (two), the output bias at the data mean; scored after training.
_BURDA_NLL = {  # (objective, k, layers): Table 1, MNIST, negative log-likelihood
    ("elbo", 1, 1): 86.76, ("elbo", 5, 1): 86.47, ("iwae", 5, 1): 85.54,
    ("elbo", 50, 1): 86.35, ("iwae", 50, 1): 84.78,
    ("elbo", 1, 2): 85.33, ("elbo", 5, 2): 85.01, ("iwae", 5, 2): 83.89,
    ("elbo", 50, 2): 84.78, ("iwae", 50, 2): 82.90,
}


def _burda(objective: str, k: int, layers: int) -> Preset:
    label = "VAE" if objective == "elbo" else "IWAE"
    name = f"{label.lower()}-k{k}-l{layers}"
    return Preset(
        f"burda2015/{name}", f"{label}, k = {k}, {layers} stochastic layer(s)",
        {"model": "vae", "layers": layers, "dataset": "binarized_mnist", "objective": objective,
         "estimator": "reparam", "k": k, "batch_size": 20, "lr": 1e-3, "schedule": "burda",
         "adam_eps": 1e-4, "eval_every": 10, "eval_k": 100, "seed": 0},
        _BURDA_NLL[(objective, k, layers)], BURDA, BURDA_NOTE, checkpoint="last")


# Tomczak & Welling, section 5 and their code (jmtomczak/vae_vampprior, experiment.py): gated
# MLPs of 300 units, latent size 40 (each level), Adam lr 5e-4 on unit-norm gradients
# (AdamNormGrad, eps 1e-8), batch 100, KL warm-up over 100 epochs, at most 2000 epochs, early
# stopping after 50 epochs without a better validation ELBO (not counted during the warm-up),
# 500 pseudo-inputs from N(0.05, 0.01^2), seed 14; the best model scored with K = 5000.
_TOMCZAK_NLL = {("vae", "standard"): 88.56, ("vae", "vamp"): 85.57,
                ("hvae", "standard"): 86.05, ("hvae", "vamp"): 83.19}


def _tomczak(model: str, prior: str) -> Preset:
    label = f"{'VAE (L = 1)' if model == 'vae' else 'HVAE (L = 2)'} + " + \
        ("standard prior" if prior == "standard" else "VampPrior")
    return Preset(
        f"tomczak2018/{model}-{prior}", label,
        {"model": "gatedvae", "levels": 1 if model == "vae" else 2, "prior": prior,
         "hidden": 300, "latent": 40, "components": 500, "dataset": "binarized_mnist",
         "objective": "elbo", "kl_warmup": 100, "estimator": "reparam", "k": 1,
         "batch_size": 100, "lr": 5e-4, "epochs": 2000, "adam_eps": 1e-8,
         "normalize_grads": True, "eval_every": 1, "eval_k": 1, "patience": 50, "seed": 14},
        _TOMCZAK_NLL[(model, prior)], TOMCZAK, STATIC_NOTE)


TABLES: dict[str, Table] = {
    "burda2015": Table("burda2015", "Burda et al. 2016, Table 1 (MNIST)", tuple(
        _burda(o, k, n) for n in (1, 2) for o, k in (("elbo", 1), ("elbo", 5), ("iwae", 5),
                                                     ("elbo", 50), ("iwae", 50)))),
    "tomczak2018": Table("tomczak2018", "Tomczak & Welling 2018, Table 2 (static MNIST)", tuple(
        _tomczak(m, p) for m in ("vae", "hvae") for p in ("standard", "vamp"))),
}
PRESETS: dict[str, Preset] = {p.name: p for t in TABLES.values() for p in t.rows}


def get_table(name: str) -> Table:
    if name not in TABLES:
        raise ConfigError(f"no table {name!r}: vaelab reproduces {', '.join(TABLES)} "
                          "(`vaelab presets` lists their rows)")
    return TABLES[name]


def get_preset(name: str) -> Preset:
    """A preset by its full name (``table/row``)."""
    if name not in PRESETS:
        table, sep, row = name.partition("/")
        if sep and table in TABLES:
            TABLES[table].row(row)  # raises with the table's rows
        raise ConfigError(f"no preset {name!r}; `vaelab presets` lists them (e.g. "
                          f"{next(iter(PRESETS))})")
    return PRESETS[name]
