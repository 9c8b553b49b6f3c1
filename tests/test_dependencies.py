"""Every package the code imports is declared, and the locks pin every declared package.

Runtime code (bot/, actions/, rasa_sdk_plugins/, migrations/) may import only what requirements.in declares;
tests, benchmarks and scripts may also import what requirements-dev.in declares. A package
that arrives only as somebody else's dependency can disappear with any upgrade of that
somebody, so a direct import of it must be declared too.
"""
from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from importlib.metadata import distributions
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RUNTIME_CODE = ("bot", "actions", "rasa_sdk_plugins", "migrations")
DEV_CODE = ("tests", "bench", "scripts")
FIRST_PARTY = {"bot", "actions", "rasa_sdk_plugins", "tests", "bench", "migrations"}


def declared_requirements(path: Path) -> List[Requirement]:
    """The requirements of a pip requirements file, following ``-r`` (not ``-c``)."""
    requirements = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = re.sub(r"(^|\s)#.*", "", line).strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ")):
            requirements += declared_requirements(path.parent / line.split(maxsplit=1)[1])
        elif not line.startswith("-"):
            requirements.append(Requirement(line))
    return requirements


def declared(path: Path) -> Set[str]:
    return {canonicalize_name(requirement.name) for requirement in declared_requirements(path)}


def locked(path: Path) -> Dict[str, Tuple[str, int]]:
    """Each pin of a lock file: name -> (version, number of hashes)."""
    pins = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", path.read_text(encoding="utf-8")):
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+)", block)
        if match:
            pins[canonicalize_name(match.group(1))] = (match.group(2), block.count("--hash=sha256:"))
    return pins


def top_level_imports(directories: Tuple[str, ...]) -> Iterator[Tuple[str, int, str]]:
    """(file, line, top-level module) of every absolute import under ``directories``."""
    for directory in directories:
        for path in sorted((PROJECT_ROOT / directory).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    yield str(path.relative_to(PROJECT_ROOT)), node.lineno, name.split(".")[0]


def import_providers() -> Dict[str, Set[str]]:
    """Top-level module -> the installed distributions that provide it.

    Like ``importlib.metadata.packages_distributions()`` of Python 3.11, which also reads
    the installed files of distributions without a ``top_level.txt`` (Rasa's, httpx's).
    """
    providers: Dict[str, Set[str]] = defaultdict(set)
    for distribution in distributions():
        modules = (distribution.read_text("top_level.txt") or "").split() or {
            file.parts[0] if len(file.parts) > 1 else file.name.split(".")[0]
            for file in distribution.files or ()
            if file.suffix in (".py", ".so") and file.parts[0] != ".."
        }
        for module in modules:
            providers[module].add(canonicalize_name(distribution.metadata["Name"]))
    return providers


def undeclared_imports(directories: Tuple[str, ...], allowed: Set[str]) -> List[str]:
    providers = import_providers()
    problems = []
    for file, line, module in top_level_imports(directories):
        if module in sys.stdlib_module_names or module in FIRST_PARTY or module == "__future__":
            continue
        provided_by = providers.get(module, set())
        if not provided_by:
            problems.append(f"{file}:{line}: imports {module}, which no installed package provides")
        elif not provided_by & allowed:
            problems.append(
                f"{file}:{line}: imports {module} from {', '.join(sorted(provided_by))}, "
                "which is not declared"
            )
    return problems


RUNTIME = declared(PROJECT_ROOT / "requirements.in")
DEV = declared(PROJECT_ROOT / "requirements-dev.in")


def test_runtime_code_imports_only_runtime_requirements() -> None:
    problems = undeclared_imports(RUNTIME_CODE, RUNTIME)
    assert not problems, "declare these in requirements.in, then `make lock`:\n" + "\n".join(problems)


def test_tests_and_tools_import_only_declared_requirements() -> None:
    problems = undeclared_imports(DEV_CODE, DEV)
    assert not problems, "declare these in requirements-dev.in, then `make lock`:\n" + "\n".join(problems)


def test_the_import_scan_sees_third_party_imports() -> None:
    """The scan itself works: it finds the packages the assistant is built on."""
    modules = {module for _, _, module in top_level_imports(RUNTIME_CODE)}
    assert {"rasa_sdk", "sqlalchemy", "yaml", "telegram"} <= modules
    assert undeclared_imports(("bot",), RUNTIME - {"pyyaml"})  # without PyYAML, bot/ is caught


@pytest.mark.parametrize(
    ("inputs", "lock"),
    [
        ("requirements.in", "requirements.lock"),
        ("requirements-dev.in", "requirements-dev.lock"),
        ("requirements-bootstrap.in", "requirements-bootstrap.lock"),
    ],
)
def test_the_lock_pins_every_declared_package_with_hashes(inputs: str, lock: str) -> None:
    pins = locked(PROJECT_ROOT / lock)
    for requirement in declared_requirements(PROJECT_ROOT / inputs):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is declared in {inputs} but not in {lock}: run `make lock`"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock} pins {name}=={version}, outside {inputs}'s {requirement.specifier}: run `make lock`"
        )
    unhashed = sorted(name for name, (_, hashes) in pins.items() if not hashes)
    assert not unhashed, f"{lock} pins without hashes: {unhashed}"


def test_the_dev_lock_keeps_the_runtime_versions() -> None:
    runtime = locked(PROJECT_ROOT / "requirements.lock")
    dev = locked(PROJECT_ROOT / "requirements-dev.lock")
    assert runtime.keys() <= dev.keys()
    differing = {
        name: (runtime[name][0], dev[name][0]) for name in runtime if runtime[name][0] != dev[name][0]
    }
    assert not differing, f"run `make lock`: runtime vs dev versions {differing}"


def test_the_installer_is_the_version_the_dev_lock_pins() -> None:
    installer = locked(PROJECT_ROOT / "requirements-bootstrap.lock")
    dev = locked(PROJECT_ROOT / "requirements-dev.lock")
    assert installer["uv"][0] == dev["uv"][0], "run `make lock`"
