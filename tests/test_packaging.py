"""Packaging: conda and pip declare the same dependencies; make/CI/README agree."""

from __future__ import annotations

import os
import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._\-]*)\s*(.*?)\s*$")


def _split(requirement: str) -> tuple[str, str]:
    """``"numpy>=1.26"`` -> ``("numpy", ">=1.26")`` with a normalized name."""
    match = _REQUIREMENT.match(requirement)
    assert match is not None, requirement
    name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
    return name, match.group(2).replace(" ", "")


def pyproject_requirements(text: str) -> dict[str, str]:
    project = tomllib.loads(text)["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    return dict(_split(r) for r in requirements)


def conda_requirements(text: str) -> dict[str, str]:
    """Top-level ``dependencies:`` entries of environment.yml (not the nested ``pip:`` list)."""
    found: dict[str, str] = {}
    in_deps = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line:
            continue
        if not line.startswith(" "):
            in_deps = line == "dependencies:"
            continue
        match = re.match(r"^  - (\S.*)$", line)  # exactly one level down: not "      - -e ."
        if in_deps and match and not match.group(1).endswith(":"):
            name, spec = _split(match.group(1))
            found[name] = spec
    return found


def test_parsers_see_a_drift() -> None:
    conda = "name: x\ndependencies:\n  - numpy>=1.20\n  - pip\n  - pip:\n      - -e .\n"
    assert conda_requirements(conda) == {"numpy": ">=1.20", "pip": ""}
    pyproject = (
        '[project]\ndependencies = ["NumPy >= 1.26"]\n'
        '[project.optional-dependencies]\ntest = ["pytest>=8"]\n'
    )
    assert pyproject_requirements(pyproject) == {"numpy": ">=1.26", "pytest": ">=8"}


def test_environment_yml_matches_pyproject() -> None:
    pyproject = pyproject_requirements((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    conda = conda_requirements((ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert len(pyproject) >= 10  # 6 runtime + 4 test dependencies today
    # conda also needs the interpreter and pip (to install simkit itself with `-e .`)
    extra = {"python": conda.pop("python", None), "pip": conda.pop("pip", None)}
    assert conda == pyproject
    requires_python = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"
    ]["requires-python"]
    assert extra == {"python": requires_python.replace(" ", ""), "pip": ""}


def test_environment_yml_installs_simkit_itself() -> None:
    text = (ROOT / "environment.yml").read_text(encoding="utf-8")
    assert re.search(r"^\s+- pip:\s*\n\s+- -e \.\s*$", text, flags=re.MULTILINE)


def test_console_script_and_profiles_are_packaged() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["scripts"] == {"simkit": "simkit.cli:main"}
    assert "profiles/*.toml" in pyproject["tool"]["setuptools"]["package-data"]["simkit"]
    shipped = sorted(
        p.name for p in (resources.files("simkit") / "profiles").iterdir() if p.name[0] != "."
    )
    assert shipped == ["development.toml", "experimental.toml", "production.toml"]


def _make_targets(text: str) -> dict[str, list[str]]:
    """Target name -> its recipe lines."""
    targets: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z][\w.-]*)\s*:(?!=)", line)
        if match:
            current = match.group(1)
            targets[current] = []
        elif line.startswith("\t") and current is not None:
            targets[current].append(line.strip())
    return targets


def test_makefile_has_run_and_test() -> None:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = _make_targets(text)
    assert "run" in targets and "test" in targets
    assert any("pytest" in line for line in targets["test"])
    assert any("simkit compare" in line for line in targets["run"])
    phony = re.search(r"^\.PHONY:(.*)$", text, flags=re.MULTILINE)
    assert phony is not None and {"run", "test"} <= set(phony.group(1).split())


def test_ci_runs_make_test() -> None:
    script = ROOT / ".ci" / "run"
    commands = [
        line.strip()
        for line in script.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert "make test" in commands
    assert os.access(script, os.X_OK)


def test_readme_mentions_make_run_and_make_test() -> None:
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md not written yet")
    text = readme.read_text(encoding="utf-8")
    assert "make run" in text
    assert "make test" in text
