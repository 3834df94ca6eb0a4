"""The wheel scripts/package.sh built (target/python): named after the version, and declaring
every package its code imports, with ranges that hold the scikit-learn versions the byom tests
run with. An import the wheel does not declare (as rfc8785 once was for the server's Python)
would install fine and fail at the first export; this finds it without installing anything.
"""

import ast
import os
import re
import sys
import tomllib
import zipfile

import pytest
from packaging.requirements import Requirement

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Import names whose distribution is called something else.
DISTRIBUTION_OF = {"sklearn": "scikit-learn"}


@pytest.fixture(scope="module")
def version():
    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as handle:
        return tomllib.load(handle)["workspace"]["package"]["version"]


@pytest.fixture(scope="module")
def wheel(version):
    path = os.path.join(ROOT, "target", "python", f"pg_purchase-{version}-py3-none-any.whl")
    if not os.path.isfile(path):
        pytest.fail(f"{path} is missing: run scripts/package.sh first")
    with zipfile.ZipFile(path) as archive:
        yield archive


def metadata(wheel, version):
    text = wheel.read(f"pg_purchase-{version}.dist-info/METADATA").decode()
    return {
        "version": re.search(r"^Version: (.*)$", text, re.M)[1],
        "requires": [Requirement(r) for r in re.findall(r"^Requires-Dist: (.*)$", text, re.M)],
    }


def imported_distributions(wheel):
    """Top-level modules imported anywhere in the wheel's code (function-local imports too),
    without the standard library and pg_purchase itself."""
    found = set()
    for name in wheel.namelist():
        if not name.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(wheel.read(name))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add(node.module.split(".")[0])
    found -= set(sys.stdlib_module_names) | {"__future__", "pg_purchase"}
    return {DISTRIBUTION_OF.get(m, m) for m in found}


def test_wheel_version_is_cargo_version(wheel, version):
    assert metadata(wheel, version)["version"] == version
    modules = sorted(n for n in wheel.namelist() if n.endswith(".py"))
    package = os.path.join(ROOT, "python", "pg_purchase")
    assert modules == sorted(f"pg_purchase/{f}" for f in os.listdir(package) if f.endswith(".py"))


def test_every_import_is_a_declared_dependency(wheel, version):
    requires = metadata(wheel, version)["requires"]
    required = {r.name for r in requires if r.marker is None}
    # The tree libraries are extras: imported only when exporting such a model.
    extras = {r.name for r in requires if r.marker is not None and "extra" in str(r.marker)}
    imported = imported_distributions(wheel)
    assert {"scikit-learn", "pandas", "numpy", "joblib", "rfc8785"} <= imported
    assert imported <= required | extras, f"imported but not declared: {sorted(imported - required - extras)}"
    assert {"lightgbm", "xgboost"} <= extras


def test_scikit_learn_range_holds_the_tested_versions(wheel, version):
    (sklearn,) = [r for r in metadata(wheel, version)["requires"] if r.name == "scikit-learn"]
    for requirements in ("requirements.txt", "requirements-newest.txt"):
        with open(os.path.join(ROOT, requirements), encoding="utf-8") as handle:
            pinned = re.search(r"^scikit-learn==(\S+)", handle.read(), re.M)[1]
        assert sklearn.specifier.contains(pinned), f"{requirements} tests scikit-learn {pinned}, outside {sklearn}"
