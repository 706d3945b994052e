"""What a user's clone needs: tests that read only the repository, and an sdist that holds them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conftest import ROOT

_ABSOLUTE = re.compile(r"""["'](/(?:work|home|root|tmp|srv|mnt)/[^"']*)["']""")


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT / "tests")) for p in (ROOT / "tests").rglob("*.py")))
def test_tests_read_no_path_outside_the_repository(path: str) -> None:
    if Path(path).name == Path(__file__).name:
        return  # this file names what it looks for
    text = (ROOT / "tests" / path).read_text()
    assert not _ABSOLUTE.findall(text), f"{path} names an absolute path"
    assert "../shared" not in text


def _imported_top_folders() -> set[str]:
    """Folders of the repository that test code reads or imports (bench/, fuzz/, samples/...)."""
    found: set[str] = set()
    for path in (ROOT / "tests").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in (
                    "bench", "fuzz", "samples", "schema", "grammars"):
                found.add(node.value)
    return found


def test_sdist_holds_what_the_tests_use() -> None:
    """The source distribution carries every folder the tests read, so its tests run."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 on

    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["sdist"][
        "include"]
    assert {"tests", "stallscope", "grammars"} <= set(include)
    assert _imported_top_folders() <= set(include)


def test_readme_rule_table_is_the_rules_own_words() -> None:
    from stallscope.rules import ALL_RULES

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Rules\n") :]
    section = section[: section.index("\n## ", 1)]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    listed = [line.split("`")[1] for line in rows]
    assert listed == [rule.RULE for rule in ALL_RULES]
    for rule, row in zip(ALL_RULES, rows, strict=True):
        assert rule.SUMMARY in row and rule.SEVERITY in row


def test_no_module_imports_a_private_name_of_another() -> None:
    """A name starting with ``_`` is its module's own: code elsewhere in the package that needs it
    needs a public name (tests may reach into a module they test)."""
    private: list[str] = []
    for path in sorted((ROOT / "stallscope").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stallscope"):
                private += [f"{path.relative_to(ROOT)}: {node.module}.{alias.name}" for alias in node.names
                            if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert private == []


# Modules that present results (they may use the renderers); every other module is the pipeline
# or the domain under it and must not depend on how results are shown.
_PRESENTERS = {"cli.py", "entry.py", "manual.py", "clihelp.py", "watch.py", "export.py", "progress.py"}


def test_no_domain_module_imports_the_renderers() -> None:
    offenders = []
    for path in sorted((ROOT / "stallscope").rglob("*.py")):
        relative = path.relative_to(ROOT / "stallscope")
        if relative.parts[0] == "render" or str(relative) in _PRESENTERS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stallscope.render"):
                offenders.append(f"{relative}: {node.module}")
    assert offenders == []


_BUILTIN_MARKS = {"parametrize", "skip", "skipif", "xfail", "usefixtures", "filterwarnings"}


def test_every_marker_is_registered_and_ci_runs_them_all() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 on
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    registered = {line.split(":")[0] for line in options["markers"]}
    assert "--strict-markers" in options["addopts"]
    used = {m for p in (ROOT / "tests").rglob("*.py") for m in re.findall(r"pytest\.mark\.(\w+)", p.read_text())}
    assert {"slow", "browser", "dask"} <= registered
    assert used - _BUILTIN_MARKS <= registered, used - _BUILTIN_MARKS - registered
    # .ci/run ends with the README's plain `pytest`: no marker is left out there.
    runs = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
            if line.strip().startswith("pytest")]
    assert runs and all(" -m" not in line for line in runs), runs


def test_the_campaign_runs_one_mutation_when_asked(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``fuzz/campaign.py --mutation inflate``: every input gets that mutation (a run of all 13
    gives each a 13th, and numbers grown beyond int64 found fatal lines such runs had not)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("campaign", ROOT / "fuzz" / "campaign.py")
    assert spec is not None and spec.loader is not None
    campaign = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "campaign", campaign)  # its dataclasses look their module up
    spec.loader.exec_module(campaign)
    assert campaign.main(["--inputs", "3", "--seed", "11", "--mutation", "inflate"]) == 0
    assert "3 inputs (inflate 3)" in capsys.readouterr().out
