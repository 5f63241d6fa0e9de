"""The configuration of a training run: one dataclass per concern, validated on construction.

    RunConfig
      model      ModelSpec      name (registry, module:Class or file.py:Class) + its options
      data       DataConfig     data set or file, binarization, image shape, likelihood
      objective  ObjectiveSpec  name (elbo, iwae) + its options (beta, kl_warmup, free_bits)
      estimator  EstimatorSpec  name (reparam, stl, dreg, score_function), K + options (baseline)
      optim      OptimConfig    epochs, batch size, learning rate and its schedule
      eval       EvalConfig     validation cadence and K, early stopping
      runtime    RuntimeConfig  seed, device, torch.compile, time limit

The command line and ``vaelab.train(**options)`` use one flat namespace of options
(``OPTIONS``): every section field and every option of every registered model, objective and
estimator, each with the help text of its dataclass field. A config file (JSON, or YAML with
PyYAML) holds either the nested form (as in a run's ``config.json``) or flat options.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaelab.data.registry import DataConfig
from vaelab.errors import ConfigError
from vaelab.estimators import ESTIMATORS
from vaelab.models import MODELS
from vaelab.objectives import OBJECTIVES
from vaelab.registry import Registry, build_config, field_default, field_help, option

SCHEDULES = ("constant", "burda", "cosine")
COMPILE_MODES = ("", "default", "reduce-overhead", "max-autotune")


@dataclass
class ModelSpec:
    model: str = option("vae", "a registered model, or your own class as module.path:Class or "
                        "path/to/file.py:Class (a subclass of vaelab.models.base.Model)")
    model_args: dict = option({}, "JSON object of options for the model (a user's class: its "
                              "constructor's keyword arguments)")


@dataclass
class ObjectiveSpec:
    objective: str = option("elbo", "what to maximise: elbo or iwae (L_K with K = --k)")
    objective_args: dict = option({}, "options of the objective", cli=False)


@dataclass
class EstimatorSpec:
    estimator: str = option("reparam", "gradient estimator for the inference network")
    k: int = option(1, "samples per example (K of L_K; the ELBO averages over them)")
    estimator_args: dict = option({}, "options of the estimator", cli=False)

    def __post_init__(self) -> None:
        if not isinstance(self.k, int) or self.k < 1:
            raise ConfigError(f"--k must be an integer >= 1, got {self.k}")


@dataclass
class OptimConfig:
    epochs: int = option(0, "passes over the training data (0: 50, or the burda schedule's "
                         "3^0 + ... + 3^(S-1))")
    batch_size: int = option(100, "examples per step")
    lr: float = option(1e-3, "Adam learning rate (the schedule's starting value)")
    schedule: str = option("constant", "learning rate schedule: constant; burda (stage i runs "
                           "3^i epochs at lr*10^(-i/7)); cosine (lr to 0 over --epochs)",
                           choices=SCHEDULES)
    burda_stages: int = option(8, "stages of the burda schedule (8: 3280 epochs)")
    adam_eps: float = option(1e-4, "Adam's epsilon (Burda et al.: 1e-4; torch's default and "
                             "Tomczak & Welling: 1e-8)")
    normalize_grads: bool = option(False, "divide each parameter tensor's gradient by its L2 "
                                   "norm (+1e-7) before Adam (Tomczak & Welling's AdamNormGrad)")

    def __post_init__(self) -> None:
        self._check()
        burda = sum(3 ** i for i in range(self.burda_stages))
        if self.schedule == "burda":
            if self.epochs not in (0, burda):
                raise ConfigError(f"--schedule burda runs 3^0 + ... + 3^{self.burda_stages - 1} "
                                  f"= {burda} epochs (--burda-stages {self.burda_stages}); drop "
                                  f"--epochs {self.epochs} or change --burda-stages")
            self.epochs = burda
        elif self.epochs == 0:
            self.epochs = 50

    def _check(self) -> None:
        if not (isinstance(self.adam_eps, (int, float)) and 0 < self.adam_eps <= 1):
            raise ConfigError(f"--adam-eps must be a number in (0, 1], got {self.adam_eps}")
        if not isinstance(self.normalize_grads, bool):
            raise ConfigError(f"--normalize-grads is true or false, not {self.normalize_grads!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"--schedule must be one of {', '.join(SCHEDULES)}, not "
                              f"{self.schedule}")
        for name in ("batch_size", "burda_stages"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be an integer >= 1, got "
                                  f"{getattr(self, name)}")
        if not isinstance(self.epochs, int) or self.epochs < 0:
            raise ConfigError(f"--epochs must be an integer >= 1, got {self.epochs}")
        if not (math.isfinite(self.lr) and 0 < self.lr <= 10):
            raise ConfigError(f"--lr must be a positive number no larger than 10, got {self.lr}")

    def lr_at(self, epoch: int) -> float:
        """Burda et al.: stage i lasts 3^i passes at lr * 10^(-i/7); cosine: lr * (1 + cos(pi *
        epoch / epochs)) / 2, from lr to ~0 over the run; else constant."""
        if self.schedule == "constant":
            return self.lr
        if self.schedule == "cosine":
            return self.lr * 0.5 * (1 + math.cos(math.pi * epoch / self.epochs))
        i, end = 0, 1
        while epoch >= end:
            i += 1
            end += 3 ** i
        return self.lr * 10 ** (-i / 7)


@dataclass
class EvalConfig:
    eval_every: int = option(1, "epochs between validation bounds")
    eval_k: int = option(100, "samples for the validation bound L_k")
    patience: int = option(0, "stop after this many validations without improvement (0: off)")

    def __post_init__(self) -> None:
        from vaelab.eval.likelihood import MAX_K

        for name in ("eval_every", "eval_k"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be an integer >= 1, got "
                                  f"{getattr(self, name)}")
        if self.eval_k > MAX_K:
            raise ConfigError(f"--eval-k must be at most {MAX_K} (a validation bound every "
                              f"--eval-every epochs), got {self.eval_k}")
        if self.patience < 0:
            raise ConfigError(f"--patience must be >= 0, got {self.patience}")


MAX_SEED = 2 ** 63 - 1  # torch's generators take a signed 64-bit seed


def check_seed(seed) -> int:
    """A seed torch accepts, or a one-line error."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"--seed must be an integer from 0 to 2^63 - 1, got {seed}")
    return seed


@dataclass
class RuntimeConfig:
    seed: int = option(0, "random seed (weights, data order, samples)")
    device: str = option("auto", "cpu, cuda, cuda:N, or auto (a GPU when there is one)")
    compile: str = option("", "torch.compile the training step: default, reduce-overhead (CUDA "
                          "graphs) or max-autotune; empty: eager", choices=COMPILE_MODES)
    time_limit: float = option(0.0, "minutes: stop cleanly after the epoch that passes it, "
                               "checkpoint kept (0: off)")
    loggers: tuple = option((), "extra loggers: wandb, mlflow (TensorBoard is always on)")

    def __post_init__(self) -> None:
        check_seed(self.seed)
        if self.compile not in COMPILE_MODES:
            raise ConfigError(f"--compile must be default, reduce-overhead or max-autotune, not "
                              f"'{self.compile}'")
        if not (math.isfinite(self.time_limit) and self.time_limit >= 0):
            raise ConfigError(f"--time-limit must be >= 0 minutes, got {self.time_limit}")
        self.loggers = tuple(self.loggers)


SECTIONS = {"model": ModelSpec, "data": DataConfig, "objective": ObjectiveSpec,
            "estimator": EstimatorSpec, "optim": OptimConfig, "eval": EvalConfig,
            "runtime": RuntimeConfig}
# options that belong to a registered component's own config, by section
COMPONENTS: dict[str, tuple[str, str, Registry]] = {
    "model": ("model", "model_args", MODELS),
    "objective": ("objective", "objective_args", OBJECTIVES),
    "estimator": ("estimator", "estimator_args", ESTIMATORS),
}
# settings a resumed run may change; everything else defines the run
RESUMABLE = ("epochs", "lr", "schedule", "burda_stages", "eval_every", "eval_k", "patience",
             "device", "compile", "time_limit", "loggers")


@dataclass
class RunConfig:
    model: ModelSpec = field(default_factory=ModelSpec)
    data: DataConfig = field(default_factory=DataConfig)
    objective: ObjectiveSpec = field(default_factory=ObjectiveSpec)
    estimator: EstimatorSpec = field(default_factory=EstimatorSpec)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def __post_init__(self) -> None:
        if self.model.model in ("iwae", "betavae"):
            fix = ("--model vae --objective iwae" if self.model.model == "iwae" else
                   "--model convvae --beta B")
            raise ConfigError(f"--model {self.model.model}: that is an objective, not a model; "
                              f"use {fix}")
        # each named component exists and its options are valid
        for section, (name_field, args_field, reg) in COMPONENTS.items():
            spec = getattr(self, section)
            name, args = getattr(spec, name_field), getattr(spec, args_field)
            if not isinstance(args, dict):
                raise ConfigError(f"--{args_field.replace('_', '-')} must be a JSON object, "
                                  f"got {args!r}")
            if section != "model" or name in reg:
                entry = reg.get(name)
                build_config(entry.config, args, f"{section} {name}")

    # ---- views --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        """The nested form (a run's config.json "train" section)."""
        if not isinstance(d, dict):
            raise ConfigError(f"a run configuration is a JSON object, not {type(d).__name__}")
        unknown = sorted(set(d) - set(SECTIONS))
        if unknown:
            raise ConfigError(f"unknown configuration sections {', '.join(unknown)}; expected "
                              f"{', '.join(SECTIONS)}")
        parts = {}
        for name, section in SECTIONS.items():
            values = d.get(name, {})
            if not isinstance(values, dict):
                raise ConfigError(f"configuration section '{name}' must be an object, not "
                                  f"{values!r}")
            parts[name] = build_config(section, values, f"configuration section '{name}'")
        return cls(**parts)

    def effective(self) -> dict[str, Any]:
        """Every flat option's value in force, a component's unset options at their defaults."""
        from vaelab.models.registry import entry_defaults

        out: dict[str, Any] = {}
        for name in SECTIONS:
            out.update(dataclasses.asdict(getattr(self, name)))
        for section, (name_field, args_field, reg) in COMPONENTS.items():
            name, args = out[name_field], out.pop(args_field)
            if name in reg:
                defaults = entry_defaults(name) if section == "model" else {}
                args = dataclasses.asdict(build_config(reg.get(name).config,
                                                       {**defaults, **args}, name))
            out.update(args)
        return out

    @classmethod
    def from_options(cls, options: dict, base: RunConfig | None = None) -> RunConfig:
        """Flat options (``--lr``, ``--beta``, ``--layers``, ...) over ``base`` (default: the
        defaults); an option of a component that was not chosen is an error."""
        base = base or cls()
        cat = option_catalogue()
        unknown = sorted(set(options) - set(cat))
        if unknown:
            raise ConfigError(f"unknown option {', '.join(unknown)}")
        d = base.to_dict()
        if "epochs" not in options and {"schedule", "burda_stages"} & set(options):
            o = base.optim  # a length the base only defaulted follows the new schedule
            if o.epochs == OptimConfig(schedule=o.schedule, burda_stages=o.burda_stages).epochs:
                d["optim"]["epochs"] = 0
        for name, value in options.items():
            opt = cat[name]
            if name.endswith("_args") and not isinstance(value or {}, dict):
                raise ConfigError(f"--{name.replace('_', '-')} must be a JSON object, got "
                                  f"{value!r}")
            if opt.section is not None:
                d[opt.section][name] = value
        for section, (_, args_field, _) in COMPONENTS.items():
            d[section][args_field] = _component_args(section, d[section], base, options, cat)
        return cls.from_dict(d)

    @classmethod
    def load(cls, run_dir: str | Path) -> RunConfig:
        p = Path(run_dir) / "config.json"
        if not p.is_file():
            if (Path(run_dir) / ".previous" / "config.json").is_file():
                raise ConfigError(f"{run_dir} holds the run an interrupted --overwrite set "
                                  f"aside (in {run_dir}/.previous): `vaelab train --resume "
                                  f"--out {run_dir}` restores and continues it")
            raise ConfigError(f"{run_dir} is not a vaelab run directory (no config.json); "
                              "give the --out directory of a `vaelab train` run")
        try:
            return cls.from_dict(json.loads(p.read_text())["train"])
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{p} is corrupt ({type(e).__name__}: {e}); restore it or "
                              "retrain") from None


def _component_args(section: str, merged: dict, base: RunConfig, options: dict,
                    cat: dict) -> dict:
    """The options of ``section``'s chosen component (its model, objective or estimator):
    ``merged`` (the section with the given section fields over the base's) where the component
    is unchanged, then those given; an option another component owns is refused."""
    name_field, args_field, _ = COMPONENTS[section]
    chosen = merged[name_field]
    args = dict(merged[args_field]) if chosen == getattr(getattr(base, section), name_field) \
        else {}
    if section == "model" and "model_args" in options:
        args = dict(options["model_args"] or {})
    for name, value in options.items():
        opt = cat[name]
        if opt.component != section:
            continue
        if chosen not in opt.owners:
            hint = (" (a model of your own takes its options in --model-args)"
                    if section == "model" and chosen not in MODELS else "")
            raise ConfigError(f"--{name.replace('_', '-')} is an option of {section} "
                              f"{', '.join(opt.owners)}, not of {chosen}{hint}")
        args[name] = value
    return args


@dataclass(frozen=True)
class Option:
    """One flat option: where it lives and what it means."""

    name: str
    default: Any
    help: str
    choices: tuple | None
    section: str | None          # a section field, or None for a component option
    component: str | None = None  # "model", "objective" or "estimator" for component options
    owners: tuple = ()            # registered components that have it


def option_catalogue() -> dict[str, Option]:
    """Every flat option: the sections' fields, then each registered component's options."""
    cat: dict[str, Option] = {}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            cat[f.name] = Option(f.name, field_default(f), field_help(f),
                                 f.metadata.get("choices"), section)
    for section, (name_field, _, reg) in COMPONENTS.items():
        names = tuple(reg.names())
        cat[name_field] = dataclasses.replace(cat[name_field], choices=names if section !=
                                              "model" else None)
        for entry in reg.entries():
            for f in entry.options():
                if f.name in cat and cat[f.name].component == section:
                    old, new = cat[f.name], f.metadata.get("choices")
                    choices = (old.choices + tuple(c for c in new if c not in old.choices)
                               if old.choices and new else old.choices)  # each owner validates
                    cat[f.name] = dataclasses.replace(old, owners=old.owners + (entry.name,),
                                                      choices=choices)
                elif f.name in cat:
                    raise ValueError(f"option {f.name} of {section} {entry.name} clashes with "
                                     "another option")
                else:
                    cat[f.name] = Option(f.name, field_default(f), field_help(f),
                                         f.metadata.get("choices"), None, section, (entry.name,))
    return cat


def split_assignment(item: str, flag: str, form: str) -> tuple[str, str]:
    """``"NAME=TEXT"`` (dashes or underscores) -> (name, text), or one line naming the fix
    (``form``: how to write it, e.g. ``NAME=VALUE (e.g. epochs=10)``)."""
    name, sep, text = item.partition("=")
    if not sep or not text:
        raise ConfigError(f"{flag} {item!r}: write {form}")
    return name.strip().lstrip("-").replace("-", "_"), text


def option_value(name: str, text: str, flag: str) -> Any:
    """``text`` as a value of option ``name``'s type (true/false for a flag; JSON for an object
    or a list); an unknown option or a value of another type is one line naming ``flag``."""
    cat = option_catalogue()
    if name not in cat:
        raise ConfigError(f"{flag} {name}: no such option (`vaelab train --help` lists them)")
    kind = type(cat[name].default)
    try:
        if kind is bool:
            return {"true": True, "false": False}[text.lower()]
        return kind(text) if kind in (int, float, str) else json.loads(text)
    except (ValueError, KeyError):
        what = {int: "an integer", float: "a number", bool: "true or false"}.get(
            kind, f"a {kind.__name__} (JSON)")
        raise ConfigError(f"{flag} {name}: {text!r} is not {what}") from None


def read_config_file(path: str | Path) -> dict:
    """A config file's contents: JSON (.json) or YAML (.yaml/.yml, needs PyYAML)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--config {p}: no such file")
    text = p.read_text()
    if p.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError("YAML config files need PyYAML: pip install 'vaelab[yaml]', or "
                              "write the config as JSON") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"--config {p} is not valid YAML ({e})") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"--config {p} is not valid JSON ({e})") from None
    if isinstance(data, dict) and "train" in data and isinstance(data["train"], dict):
        data = data["train"]  # a run's config.json
    if not isinstance(data, dict):
        raise ConfigError(f"--config {p} must hold an object of options")
    return data


def config_from_file(path: str | Path) -> RunConfig:
    """A RunConfig from a file holding nested sections or flat options."""
    data = read_config_file(path)
    if set(data) <= set(SECTIONS):
        return RunConfig.from_dict(data)
    return RunConfig.from_options(data)
