"""Every command of the README and the docs runs as written, at tiny scale.

Each ``vaelab`` line of a shell block in README.md and docs/**/*.md runs, in order (later lines
use the runs of earlier ones), through ``vaelab.cli.main`` in a scratch folder that holds the
files the commands name (``my_images.npz``, ``my_model.py``, ``faces.npz``, ``run.json``). Only
the scale changes, never an option's name or meaning:

- the registered data sets are small slices of themselves (``shapes`` is ``shapes_small``);
- training runs one epoch (``--burda-stages 1`` for the burda schedule);
- the counts in ``CAPS`` are capped, and the slow analyses get a smaller budget (``EXTRA``).

Every inline ``vaelab ...`` in the prose parses with the command's own parser (RUN and the
other placeholders filled in): no option there is misspelt or gone.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from vaelab.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
CAPS = {"--repeats": 2, "--ais-steps": 3, "--chains": 2, "--examples": 5, "--pixel-layers": 2,
        "--points": 20, "--pairs": 4}
COMMAND_CAPS = {"gradients": {"--k": 5}}
EXTRA = {"gaps": ["--local-steps", "20", "--elbo-samples", "20", "--k", "200"],
         "bdmc": ["--k", "200", "--chains", "2"], "ais": ["--examples", "5"],
         "prior": ["--epochs", "1", "--pixel-layers", "1", "--pixel-channels", "8"],
         "disentangle": ["--points", "20", "--pairs", "4"], "gradients": ["--batch-size", "10"],
         "sample": ["--samples", "4"], "train": ["--eval-k", "5"],
         "train-stack": ["--eval-k", "5"],
         "reproduce": ["--eval-k", "20", "--threads", "1", "--compile", "off", "--set",
                       "epochs=1", "hidden=16", "components=5"]}
SIZES = {"train": 120, "valid": 40, "test": 30}


def shell_commands(path: Path) -> list[str]:
    text = path.read_text()
    out = []
    for lang, block in re.findall(r"```(\w*)\n(.*?)```", text, re.S):
        if lang not in ("bash", "sh", "shell", ""):
            continue
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            for part in line.split("&&"):
                if part.strip().startswith("vaelab"):
                    out.append(part.strip())
    return out


def inline_commands(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return [c for c in re.findall(r"`(vaelab [^`]+)`", text)]


def tiny(argv: list[str]) -> list[str]:
    argv = [a for a in argv]
    cmd = argv[0]
    caps = {**CAPS, **COMMAND_CAPS.get(cmd, {})}
    for i, a in enumerate(argv[:-1]):
        if a in caps:
            j = i + 1
            while j < len(argv) and not argv[j].startswith("--"):
                argv[j] = str(min(int(argv[j]), caps[a]))
                j += 1
    if cmd in ("train", "train-stack") and "--epochs" not in argv:
        argv += ["--burda-stages", "1"] if "burda" in argv else ["--epochs", "1"]
    extra = EXTRA.get(cmd, [])
    starts = [i for i, a in enumerate(extra) if a.startswith("--")] + [len(extra)]
    for i, j in zip(starts, starts[1:]):  # each option with its values, unless given
        if extra[i] not in argv:
            argv += extra[i:j]
    return argv


def shrink(ds, name=None):
    labels = {s: v[: SIZES[s]] for s, v in ds.labels.items()}
    return dataclasses.replace(ds, train=ds.train[: SIZES["train"]],
                               valid=ds.valid[: SIZES["valid"]], test=ds.test[: SIZES["test"]],
                               labels=labels)


@pytest.fixture
def small_data(monkeypatch):
    from vaelab.data.registry import DATASETS
    from vaelab.registry import Entry

    entries = dict(DATASETS._entries)
    for name in ("embedded", "binarized_mnist", "mnist_test", "colour_shapes", "shapes",
                 "shapes_small", "freyfaces"):
        e = entries[name]
        target = entries["shapes_small"].target if name == "shapes" else e.target
        monkeypatch.setitem(DATASETS._entries, name,
                            Entry(name, (lambda t=target: shrink(t())), e.config, e.help))


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """The working folder with the files the documented commands name."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "my_images.npz", test=(rng.random((12, 28, 28)) < 0.3).astype(np.uint8))
    np.savez(tmp_path / "faces.npz", train=(rng.random((60, 28, 20)) < 0.4).astype(np.uint8),
             valid=(rng.random((20, 28, 20)) < 0.4).astype(np.uint8),
             test=(rng.random((20, 28, 20)) < 0.4).astype(np.uint8))
    fixture = (ROOT / "tests" / "fixtures" / "user_model.py").read_text()
    (tmp_path / "my_model.py").write_text(fixture + "\n\nclass MyVAE(TinyConvVAE):\n    pass\n")
    (tmp_path / "run.json").write_text('{"model": "vae", "objective": "iwae", "k": 5, '
                                       '"dataset": "binarized_mnist"}')
    return tmp_path


WITH_COMMANDS = [p for p in DOCS if shell_commands(p)]


@pytest.mark.parametrize("path", WITH_COMMANDS, ids=[p.name for p in WITH_COMMANDS])
def test_every_documented_command_runs(path, shared_data, small_data, scratch, capsys):
    import time

    ran = []
    if True:
        for line in shell_commands(path):
            line = re.sub(r"\s*\[[^\]]*\]", "", line)  # optional parts, e.g. [runs/vae ...]
            if "..." in line:  # a template (`torchrun ... train ...`): checked by the parser
                continue
            argv = tiny(shlex.split(line)[1:])
            if argv == ["--version"]:
                with pytest.raises(SystemExit) as e:
                    main(argv)
                assert e.value.code == 0
                continue
            t0 = time.perf_counter()
            rc = main(argv)
            err = capsys.readouterr().err
            assert rc == 0, f"{path.name}: `{line}` exited {rc}: {err[-500:]}"
            ran.append((line, time.perf_counter() - t0))
    print("\n".join(f"{t:6.1f} s  {c}" for c, t in ran))
    assert ran
    if path.name == "README.md":
        assert len(ran) >= 20
        assert Path("runs/iwae50/checkpoints/last.safetensors").is_file()


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_inline_commands_name_real_options(path):
    """Every ``--option`` an inline ``vaelab CMD ...`` names is an option of CMD."""
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for text in inline_commands(path):
        argv = shlex.split(re.sub(r"[\[\]]", " ", text))[1:]
        if not argv or argv[0] not in commands:
            continue
        known = commands[argv[0]]._option_string_actions
        bad = [a for a in argv if a.startswith("--") and a not in known]
        assert not bad, f"{path.name}: `{text}`: {bad} is not an option of vaelab {argv[0]}"
