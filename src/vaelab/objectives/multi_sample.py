"""Multi-sample objectives beyond L_K, each a pure function of the log-weights (``bounds``):
the Renyi bound (Li & Turner 2016), MIWAE and CIWAE (Rainforth et al. 2018, "Tighter variational
bounds are not necessarily better"). Rainforth et al. show L_K's encoder gradient gets *less*
informative as K grows; MIWAE and CIWAE trade some tightness back for the encoder's signal."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaelab.errors import ConfigError
from vaelab.objectives.base import OBJECTIVES, Objective
from vaelab.objectives.bounds import ciwae_bound, iwae_bound, miwae_bound, renyi_bound
from vaelab.objectives.samples import Samples
from vaelab.registry import option


@dataclass(frozen=True)
class RenyiConfig:
    alpha: float = option(0.5, "Renyi bound order alpha in [0, 1]: 0 is L_K, 1 the ELBO")

    def __post_init__(self) -> None:
        if not 0 <= self.alpha <= 1:
            raise ConfigError(f"--alpha must lie in [0, 1] (a lower bound on log p(x)), got "
                              f"{self.alpha}")


@OBJECTIVES.register("renyi", RenyiConfig, help="the Renyi variational bound L_alpha (Li & "
                     "Turner 2016), between L_K (alpha 0) and the ELBO (alpha 1)")
class Renyi(Objective):
    name = "renyi"

    def __init__(self, config: RenyiConfig | None = None) -> None:
        self.config = config or RenyiConfig()

    def __call__(self, s: Samples) -> torch.Tensor:
        return self.bound(s.log_w)

    def bound(self, log_w: torch.Tensor) -> torch.Tensor:
        return renyi_bound(log_w, self.config.alpha)


@dataclass(frozen=True)
class MIWAEConfig:
    groups: int = option(1, "MIWAE: M independent groups of the --k draws (--k must be a "
                         "multiple of M); each group gives one L_{k/M}")

    def __post_init__(self) -> None:
        if self.groups < 1:
            raise ConfigError(f"--groups must be >= 1, got {self.groups}")


@OBJECTIVES.register("miwae", MIWAEConfig, help="MIWAE (Rainforth et al. 2018): the mean of "
                     "M bounds L_{K/M} from the K draws")
class MIWAE(Objective):
    name = "miwae"

    def __init__(self, config: MIWAEConfig | None = None) -> None:
        self.config = config or MIWAEConfig()

    def check_samples(self, K: int) -> None:
        if K % self.config.groups:
            raise ConfigError(f"MIWAE: --k {K} is not a multiple of --groups "
                              f"{self.config.groups}")

    def __call__(self, s: Samples) -> torch.Tensor:
        return self.bound(s.log_w)

    def bound(self, log_w: torch.Tensor) -> torch.Tensor:
        self.check_samples(log_w.shape[0])
        return miwae_bound(log_w, self.config.groups)


@dataclass(frozen=True)
class CIWAEConfig:
    elbo_weight: float = option(0.5, "CIWAE: weight beta of the ELBO in beta ELBO + (1 - beta) "
                                "L_K, in [0, 1]")

    def __post_init__(self) -> None:
        if not 0 <= self.elbo_weight <= 1:
            raise ConfigError(f"--elbo-weight must lie in [0, 1], got {self.elbo_weight}")


@OBJECTIVES.register("ciwae", CIWAEConfig, help="CIWAE (Rainforth et al. 2018): a convex "
                     "combination of the ELBO and L_K")
class CIWAE(Objective):
    name = "ciwae"

    def __init__(self, config: CIWAEConfig | None = None) -> None:
        self.config = config or CIWAEConfig()

    def __call__(self, s: Samples) -> torch.Tensor:
        return self.bound(s.log_w)

    def bound(self, log_w: torch.Tensor) -> torch.Tensor:
        return ciwae_bound(log_w, self.config.elbo_weight)


@dataclass(frozen=True)
class PIWAEConfig:
    groups: int = option(1, "MIWAE: M independent groups of the --k draws (--k must be a "
                         "multiple of M); each group gives one L_{k/M}")

    def __post_init__(self) -> None:
        MIWAEConfig(self.groups)


@OBJECTIVES.register("piwae", PIWAEConfig, help="PIWAE (Rainforth et al. 2018): the decoder "
                     "trains on L_K, the encoder on MIWAE(M, K/M) from the same draws "
                     "(--estimator reparam)")
class PIWAE(Objective):
    """theta follows grad L_K, phi follows grad MIWAE(M, K/M), on the same K draws: the decoder
    keeps the tight bound, the encoder a better gradient signal-to-noise ratio."""

    name = "piwae"
    split_gradients = True

    def __init__(self, config: PIWAEConfig | None = None) -> None:
        self.config = config or PIWAEConfig()

    def check_samples(self, K: int) -> None:
        MIWAE(MIWAEConfig(self.config.groups)).check_samples(K)

    def __call__(self, s: Samples) -> torch.Tensor:
        return iwae_bound(s.log_w)

    def bound(self, log_w: torch.Tensor) -> torch.Tensor:
        return iwae_bound(log_w)

    def inference_bound(self, log_w: torch.Tensor) -> torch.Tensor:
        self.check_samples(log_w.shape[0])
        return miwae_bound(log_w, self.config.groups)
