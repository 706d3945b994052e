"""`--engine dask`: the same pieces, rules and merge as local processes, run on a Dask cluster.

The cluster is a LocalCluster on loopback (no network beyond 127.0.0.1).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_fleet import make_fleet
from typer.testing import CliRunner

from stallscope.cli import app
from stallscope.parallel import DaskEngine, diagnose_on, load_parallel

pytestmark = pytest.mark.dask

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    # Threads in this process keep start-up short; pieces and captures still travel as tasks.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as local:
        yield local


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fleet(tmp_path_factory.mktemp("dask") / "logs")


@pytest.fixture(autouse=True)
def _no_scheduler_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)


def _json(*args: str) -> str:
    result = CliRunner().invoke(app, ["analyze", "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_cluster_gives_the_same_json_as_local_processes(cluster: object, fleet_dir: Path) -> None:
    address = cluster.scheduler_address  # type: ignore[attr-defined]
    local = _json(str(fleet_dir), "-j", "2")
    remote = _json(str(fleet_dir), "--engine", "dask", "--scheduler", address)
    assert remote == local
    document = json.loads(remote)
    assert len(document["summary"]["fleet"]["stalled"]) == 4
    # The work ran on the cluster: one task per file, then one per machine for the rules.
    prefixes = set(cluster.scheduler.task_prefixes)  # type: ignore[attr-defined]
    assert {"load_piece", "diagnose_part"} <= prefixes, prefixes  # dask drops the leading underscore


def test_scheduler_from_the_environment(cluster: object, fleet_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)  # type: ignore[attr-defined]
    assert _json(str(fleet_dir / "web1.log"), "--engine", "dask") == _json(str(fleet_dir / "web1.log"))


def test_engine_api_relative_paths_are_opened_by_absolute_path(
    cluster: object, fleet_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(fleet_dir)
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:  # type: ignore[attr-defined]
        engine = DaskEngine(client)
        capture = load_parallel("web1.log", "db1.log", engine=engine)
        findings = diagnose_on(capture, engine)
    # Evidence cites the names as given, whatever directory the workers run in.
    assert [i.path for i in capture.inputs] == ["web1.log", "db1.log"]
    assert {e.source for f in findings for e in f.evidence} == {"web1.log", "db1.log"}
    assert {f.host for f in findings} == {"web1", "db1"}


@pytest.mark.parametrize(("args", "message"), [
    (["--engine", "dask"], "needs the scheduler"),
    (["--scheduler", "tcp://127.0.0.1:8786"], "only with --engine dask"),
])
def test_engine_usage_errors(args: list[str], message: str, fleet_dir: Path) -> None:
    result = CliRunner().invoke(app, ["analyze", str(fleet_dir), *args])
    assert result.exit_code == 2
    assert message in result.output
