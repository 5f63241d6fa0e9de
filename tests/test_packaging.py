"""The package installs anywhere: built offline from this checkout, its wheel admits current and
future torch releases (no upper pins), carries its licence, URLs, py.typed and embedded data,
and the sdist ships the tests."""

import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser

import pytest
from packaging.requirements import Requirement


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel", "--no-isolation",
                        "-o", str(out), str(root)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return out


def test_wheel_metadata_admits_new_torch_and_has_no_upper_pins(dist):
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        meta = Parser().parsestr(z.read(next(n for n in z.namelist()
                                             if n.endswith("METADATA"))).decode())
        names = z.namelist()
    reqs = [Requirement(r) for r in meta.get_all("Requires-Dist")]
    torch = next(r for r in reqs if r.name == "torch")
    for version in ("2.13.0", "2.15.0", "3.0.0"):
        assert torch.specifier.contains(version), version
    assert all("<" not in str(r.specifier) for r in reqs)  # nothing blocks a newer release
    assert not any(r.name == "scipy" and r.marker is None for r in reqs)  # an extra only
    assert meta["License-Expression"] == "MIT"
    assert any(u.startswith("Source, ") for u in meta.get_all("Project-URL"))
    assert meta.get_payload().lstrip().startswith("# vaelab") and "pip install vaelab" in \
        meta.get_payload().split("```")[1]
    assert "vaelab/py.typed" in names and any(n.endswith(".npz") for n in names)


def test_sdist_ships_the_tests_and_the_licence(dist):
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as t:
        names = t.getnames()
    assert any(n.endswith("tests/models/test_protocol.py") for n in names)
    assert any(n.endswith("/LICENSE") for n in names)
