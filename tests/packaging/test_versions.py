"""One version: Cargo.toml's [workspace.package] version, which everything released follows.

The extension (pg_purchase.control's @CARGO_VERSION@), the pure crate, the Python package, the
Debian changelog, the upgrade chain in sql/ and README's Install section must all say the same;
a release bump that forgets one fails here (RELEASING.md). No cluster needed.
"""

import os
import re
import tomllib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as handle:
        return handle.read()


@pytest.fixture(scope="module")
def version():
    return tomllib.loads(read("Cargo.toml"))["workspace"]["package"]["version"]


def test_cargo_packages_inherit_the_workspace_version(version):
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    for manifest in (("Cargo.toml",), ("crates", "purchase_model", "Cargo.toml")):
        assert tomllib.loads(read(*manifest))["package"]["version"] == {"workspace": True}, manifest


def test_control_file_takes_the_cargo_version():
    assert "default_version = '@CARGO_VERSION@'" in read("pg_purchase.control")


def test_python_package_follows(version):
    assert re.search(r'^__version__ = "(.*)"$', read("python", "pg_purchase", "__init__.py"), re.M)[1] == version
    project = tomllib.loads(read("python", "pyproject.toml"))
    assert project["project"]["dynamic"] == ["version"]
    assert "version" not in project["project"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "pg_purchase.__version__"}


def test_debian_changelog_has_an_entry_for_it(version):
    first = read("packaging", "debian", "changelog").splitlines()[0]
    assert first.startswith(f"pg-purchase ({version}) "), first


def test_sql_upgrade_chain_reaches_it(version):
    scripts = os.listdir(os.path.join(ROOT, "sql"))
    assert any(re.fullmatch(rf"pg_purchase--[\d.]+--{re.escape(version)}\.sql", s) for s in scripts), scripts
    # The version being built gets its install script from cargo pgrx, never from sql/.
    assert f"pg_purchase--{version}.sql" not in scripts


def test_readme_install_names_this_version(version):
    readme = read("README.md")
    install = readme[readme.index("\n## Install\n") : readme.index("\n## Two commands\n")]
    assert f"postgresql-15-pg-purchase_{version}_amd64.deb" in install
    assert f"pg_purchase-{version}-py3-none-any.whl" in install
