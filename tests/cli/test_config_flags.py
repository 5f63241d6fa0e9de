"""The analysis commands' settings flags come from the settings dataclasses, as `train`'s come
from RunConfig: every field has its flag, the flag's default is the field's, and a value given
on the command line reaches the field."""

import dataclasses

import pytest

from vaelab.cli.commands import config_from_flags
from vaelab.cli.main import build_parser
from vaelab.eval.ais import AISConfig
from vaelab.eval.local_vi import LocalVIConfig
from vaelab.registry import field_default


def _flag(f: dataclasses.Field) -> str:
    return "--" + (f.metadata.get("flag") or f.name).replace("_", "-")


def _other(value):
    """A valid value other than the default."""
    if isinstance(value, str):
        return None  # the choices fields are checked below
    return value * 2 if isinstance(value, int) else value / 2


@pytest.mark.parametrize("command, cls, skip", [("ais", AISConfig, ()),
                                                ("gaps", LocalVIConfig, ()),
                                                ("gaps", AISConfig, ("steps",)),
                                                ("bdmc", AISConfig, ("steps",))])
def test_every_setting_has_its_flag_and_its_default(command, cls, skip):
    parser = build_parser()
    defaults = config_from_flags(cls, parser.parse_args([command, "run"]),
                                 **{s: field_default(f) for f in dataclasses.fields(cls)
                                    for s in skip if f.name == s})
    assert defaults == cls()  # one source of defaults
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        choices = f.metadata.get("choices")
        value = [c for c in choices if c != field_default(f)][0] if choices else \
            _other(field_default(f))
        args = parser.parse_args([command, "run", _flag(f), str(value)])
        got = config_from_flags(cls, args, **{s: field_default(g) for g in dataclasses.fields(cls)
                                              for s in skip if g.name == s})
        assert getattr(got, f.name) == value, f.name


def test_a_bad_setting_is_refused_by_its_dataclass_with_the_flag_named(tmp_path):
    from vaelab.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["gaps", str(tmp_path), "--family", "banana"])
    assert e.value.code == 2
    assert main(["gaps", str(tmp_path), "--local-window", "0"]) == 2
