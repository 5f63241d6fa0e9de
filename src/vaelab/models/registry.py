"""Models by name: the built-in registry, and users' own classes.

A model is named either by its registry name (``vae``, ``pixelvae``, ...; options from its
config dataclass) or by where its class lives: ``my_pkg.my_module:MyModel`` (importable) or
``path/to/file.py:MyModel``. A user's class subclasses :class:`vaelab.models.base.Model`; it
is built with keyword arguments (``--model-args`` JSON), and ``x_shape`` is filled in from the
data when its constructor takes it and the arguments do not give it.

A run records ``spec(model)``: the registry name and config, or the class's location and the
constructor's arguments, so the model can be rebuilt without its training data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import inspect
import json
import sys
from pathlib import Path

from vaelab.errors import ConfigError
from vaelab.registry import Registry, build_config

MODELS = Registry("model")


def _import_file(path: Path):
    name = "vaelab_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SystemExit as e:  # a script's sys.exit() at import: not ours to obey
        del sys.modules[name]
        raise ConfigError(f"importing {path} called sys.exit({e.code!r}); guard the file's "
                          "script part with `if __name__ == \"__main__\":`") from None
    except Exception as e:
        del sys.modules[name]
        raise ConfigError(f"importing {path} failed: {type(e).__name__}: "
                          f"{' '.join(str(e).split())[:200]}") from None
    return module


def is_builtin(model) -> bool:
    """A registered model class (vaelab's own), as opposed to a user's."""
    return any(type(model) is e.target for e in MODELS.entries())


def model_label(model_or_cls) -> str:
    """``MyVAE (defined in /path/my_model.py)`` for a user's class, the class name otherwise:
    what an error about a model names."""
    cls = model_or_cls if isinstance(model_or_cls, type) else type(model_or_cls)
    if any(cls is e.target for e in MODELS.entries()):
        return cls.__name__
    source = _source(cls)
    return f"{cls.__name__} (defined in {source})" if source else cls.__name__


def _construct(cls, what: str, *args, **kwargs):
    """``cls(*args, **kwargs)``: a model too large for memory, or a user's constructor that
    fails, is one line naming the model and the problem."""
    try:
        return cls(*args, **kwargs)
    except ConfigError:
        raise
    except (MemoryError, RuntimeError) as e:
        text = " ".join(str(e).split())
        if isinstance(e, MemoryError) or "allocate" in text or "memory" in text:
            raise ConfigError(f"building {what} needs more memory than this machine has "
                              f"({text[:160]}); choose smaller sizes (--latent, --hidden, "
                              "--channels, ...)") from None
        if any(cls is e_.target for e_ in MODELS.entries()):
            raise
        raise ConfigError(f"building {model_label(cls)} failed: {type(e).__name__}: "
                          f"{text[:200]}") from None
    except Exception as e:
        if any(cls is e_.target for e_ in MODELS.entries()):
            raise
        raise ConfigError(f"building {model_label(cls)} with {json.dumps(kwargs, default=str)}"
                          f" failed: {type(e).__name__}: {' '.join(str(e).split())[:200]}"
                          ) from None


def resolve_class(target: str, base_dir: Path | None = None) -> type:
    """The class named by ``module.path:Class`` or ``file.py:Class`` (relative files from
    ``base_dir``, default the working directory); it must subclass ``Model``."""
    from vaelab.models.base import Model

    where, sep, cls_name = target.rpartition(":")
    if not sep or not where or not cls_name:
        names = ", ".join(MODELS.names())
        raise ConfigError(f"--model {target!r}: give a registered name ({names}), "
                          "module.path:ClassName or path/to/file.py:ClassName")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise ConfigError(f"--model {target}: the file {path} does not exist")
        module = _import_file(path.resolve())
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as e:
            raise ConfigError(f"--model {target}: cannot import {where} ({e}); is it on "
                              "PYTHONPATH?") from None
    cls = getattr(module, cls_name, None)
    if not (inspect.isclass(cls) and issubclass(cls, Model)):
        raise ConfigError(f"--model {target}: {cls_name} in {where} is not a subclass of "
                          "vaelab.models.base.Model")
    return cls


def _check_json(args: dict, what: str) -> dict:
    try:
        return json.loads(json.dumps(args))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{what}: the constructor's arguments must be JSON values to be "
                          f"recorded in the run ({e})") from None


def supported_likelihoods(name: str) -> tuple[str, ...] | None:
    """The likelihoods a registered model declares (its config's ``likelihood`` choices), or
    None (any, or a user's class, which says so itself)."""
    if name not in MODELS:
        return None
    config = MODELS.get(name).config
    for f in dataclasses.fields(config) if config is not None else ():
        if f.name == "likelihood":
            return f.metadata.get("choices")
    return None


def build_model(name: str, args: dict, x_shape: tuple, likelihood: str,
                base_dir: Path | None = None, likelihood_asked: str | None = None):
    """A model from its name (registry or class location) and options, for data of shape
    ``x_shape`` with the given likelihood. ``likelihood_asked``: the likelihood the user named
    (``--likelihood``, not "auto"), which a user's class must take as an argument."""
    if name in MODELS:
        entry = MODELS.get(name)
        cfg = build_config(entry.config, {**entry_defaults(name), **args, "x_shape": x_shape,
                                          "likelihood": likelihood}, f"model {name}")
        return _construct(entry.target, f"model {name}", cfg)
    cls = resolve_class(name, base_dir)
    kwargs = dict(args)
    params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]  # not __new__
    if "x_shape" in params and "x_shape" not in kwargs:
        kwargs["x_shape"] = tuple(x_shape)
    if likelihood_asked is not None:  # --likelihood given: the model must take it
        if "likelihood" not in params:
            raise ConfigError(f"--likelihood {likelihood_asked}: {model_label(cls)} defines its "
                              "own log_likelihood and takes no likelihood option; drop "
                              "--likelihood, or give its constructor a `likelihood` argument")
        kwargs.setdefault("likelihood", likelihood_asked)
    return _construct(cls, model_label(cls), **kwargs)


# registry names that share a class differ in their defaults (vqvae2 = vqvae, hierarchical)
_DEFAULTS: dict[str, dict] = {}


def entry_defaults(name: str) -> dict:
    return _DEFAULTS.get(name, {})


def register_variant(name: str, of: str, help: str, **defaults) -> None:
    """Register ``name`` as model ``of`` with other default options."""
    entry = MODELS.get(of)
    MODELS.add(name, entry.target, entry.config, help)
    _DEFAULTS[name] = defaults


def _source(cls) -> Path | None:
    try:
        where = inspect.getsourcefile(cls)
    except (TypeError, OSError):
        return None
    return Path(where).resolve() if where and where.endswith(".py") and Path(where).is_file() \
        else None


def _importable(module: str) -> bool:
    if module == "__main__" or module.startswith("vaelab_user_"):
        return False
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def spec(model) -> dict:
    """What a run records to rebuild ``model``: ``{"name", "args"}`` for built-in models;
    for any other class ``{"class", "args"}`` with ``class`` as ``module:Class`` (or
    ``file.py:Class`` when the module cannot be imported by name) and ``source``, the file that
    defines it (a run keeps a copy)."""
    for entry in MODELS.entries():
        if type(model) is entry.target and dataclasses.is_dataclass(model.__dict__.get("config")):
            return {"name": entry.name, "args": _check_json(dataclasses.asdict(model.config),
                                                           entry.name)}
    cls = type(model)
    source = _source(cls)
    target = f"{cls.__module__}:{cls.__qualname__}"
    if not _importable(cls.__module__) and source is not None:
        target = f"{source}:{cls.__qualname__}"
    out = {"class": target, "args": _check_json(model.init_args(), cls.__name__)}
    if source is not None:
        out["source"] = str(source)
    return out


def source_file(model) -> Path | None:
    """The file that defines a user's model class (a run keeps a copy), if any."""
    s = spec(model)
    return Path(s["source"]) if "source" in s else None


def model_class(s: dict, source_dir: Path | None = None) -> type:
    """The class a recorded spec names: by its module, else the run's copy of its file
    (``source_dir/model.py``), else the recorded file."""
    if "name" in s:
        return MODELS.get(s["name"]).target
    target = s["class"]
    where, _, cls_name = target.rpartition(":")
    tries = [] if where.endswith(".py") else [target]
    if source_dir is not None and (source_dir / "model.py").is_file():
        tries.append(f"{source_dir / 'model.py'}:{cls_name}")
    tries += [target] if where.endswith(".py") else []
    tries += [f"{s['source']}:{cls_name}"] if s.get("source") else []
    for t in tries:
        try:
            return resolve_class(t)
        except ConfigError:
            continue
    raise ConfigError(f"cannot find the model class {target} (defined in "
                      f"{s.get('source') or 'an interactive session'}): make it importable, "
                      "or pass the class to load(run, model=MyModel)")


def from_spec(s: dict, source_dir: Path | None = None, cls: type | None = None):
    """Rebuild a model from ``spec``; ``cls`` overrides the recorded class (a user's class
    defined in a notebook)."""
    args = dict(s.get("args") or {})
    if "name" in s and cls is None:
        entry = MODELS.get(s["name"])
        return _construct(entry.target, f"model {s['name']}",
                          build_config(entry.config, args, f"model {s['name']}"))
    cls = cls or model_class(s, source_dir)
    return _construct(cls, model_label(cls), **args)
