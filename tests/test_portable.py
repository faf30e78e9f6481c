"""Portability: the sample runs to the same bytes on Beam's PortableRunner as on the local FnApiRunner.

The PortableRunner submits the pipeline proto through the Job API, as it does to Flink's job server or
Dataflow Runner v2; here the job service is Beam's own Python one (local_job_service_main) started by the
test, and the SDK harness runs in LOOPBACK mode (in the launcher's process, so no Docker and nothing
downloaded). It proves the graph translates and runs through the portable API (pickled DoFns, side inputs,
DoFn.setup, staged `--setup_file`), not that it scales. `test_external_workers_from_the_staged_sdist`
goes one step further: the workers are a separate process whose only copy of this project is the sdist
Beam stages for `--setup_file`, installed into a directory of their own, with another working directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_staging import MODEL_SUFFIXES, install_sdist, staged_sdist

CONFIG = ROOT / "configs" / "sample.yaml"
PACKAGES = ("pipeline", "transforms", "tokenizer")
# Outputs that hold this run's timings or fingerprints, not data (DESIGN.md section 5).
NOT_COMPARED = ("stages/", "report/timings.json", "report/report.html")
MUST_MATCH = ("curated/", "rejected/", "counts/", "tokenizer/", "phases/", "report/report.json")


def _curate(out: Path, *beam_args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "pipeline", "run", "--config", str(CONFIG), "--output", str(out), "--quiet"]
    if beam_args:
        args += ["--", *beam_args]
    result = subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def _outputs(out: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if path.is_file() and not rel.startswith(NOT_COMPARED):
            files[rel] = path.read_bytes()
    return files


def _assert_same_outputs(reference: Path, other: Path) -> None:
    a, b = _outputs(reference), _outputs(other)
    for prefix in MUST_MATCH:
        assert any(k.startswith(prefix) for k in a), f"the reference run wrote nothing under {prefix}"
    assert sorted(a) == sorted(b)
    assert [k for k in a if a[k] != b[k]] == []


def _wait_for(path: Path, proc: subprocess.Popen, log: Path, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[:3]} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} not written in {timeout} s: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    return path.read_text().strip()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The sample on the default runner (the explicit FnApiRunner of pipeline/run.py: make_pipeline)."""
    out = tmp_path_factory.mktemp("reference") / "out"
    _curate(out)
    return out


@pytest.fixture()
def job_service(tmp_path) -> Iterator[tuple[str, Path]]:
    """Beam's Python job service in its own process on a port it picks itself (`--port 0`, written to
    `--port_file`: no race for a free port), stopped with SIGTERM (its handler exits cleanly)."""
    log = tmp_path / "job_service.log"
    port_file = tmp_path / "job_service.port"
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
             "--port", "0", "--port_file", str(port_file), "--staging_dir", str(tmp_path / "job_staging")],
            stdout=fh, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        port = _wait_for(port_file, proc, log)
        yield f"localhost:{port}", log
    finally:
        _stop(proc)


def _jobs_done(log: Path) -> int:
    return log.read_text().count("with state DONE")


def test_loopback_portable_runner_gives_identical_outputs(reference, job_service, tmp_path):
    endpoint, log = job_service
    out = tmp_path / "portable"
    _curate(out, "--runner=PortableRunner", f"--job_endpoint={endpoint}", "--environment_type=LOOPBACK",
            f"--setup_file={ROOT / 'setup.py'}")
    assert _jobs_done(log) == 2, log.read_text()[-3000:]   # the curation and the mixing job ran there
    assert "Requesting worker at" in log.read_text()       # on the loopback worker (an EXTERNAL environment)
    _assert_same_outputs(reference, out)
    timings = json.loads((out / "report" / "timings.json").read_text())
    assert set(timings["seconds"]) >= {"curation", "mixing"}  # beam_steps: {} (the Job API gives user metrics only)


WORKER = """
import json, signal, sys, time
from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer

def stop(*_):
    mods = {n: getattr(m, "__file__", None) for n, m in list(sys.modules.items())
            if n.split(".")[0] in ("pipeline", "transforms", "tokenizer")}
    with open("modules.json", "w") as fh:
        json.dump(mods, fh)
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
address, server = BeamFnExternalWorkerPoolServicer.start(use_process=False)
with open("address.tmp", "w") as fh:
    fh.write(address)
import os; os.replace("address.tmp", "address")
while True:
    time.sleep(1)
"""


@pytest.mark.slow
def test_external_workers_from_the_staged_sdist(reference, job_service, tmp_path):
    """Workers in another process, another working directory, without the launcher's environment
    variables, importing this project only from the staged sdist installed into their own directory."""
    sdist = staged_sdist(tmp_path)
    site = tmp_path / "worker-site"
    install_sdist(sdist, site)
    assert {p.name for p in site.iterdir()} >= set(PACKAGES)
    home = tmp_path / "worker-home"
    home.mkdir()
    (home / "worker.py").write_text(WORKER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CURATE_")}
    env.update(PYTHONPATH=str(site), HOME=str(home), PYTHONDONTWRITEBYTECODE="1")
    log = home / "worker.log"
    with open(log, "w") as fh:
        worker = subprocess.Popen([sys.executable, "worker.py"], cwd=home, env=env, stdout=fh,
                                  stderr=subprocess.STDOUT)
    try:
        address = _wait_for(home / "address", worker, log)
        endpoint, service_log = job_service
        out = tmp_path / "external"
        _curate(out, "--runner=PortableRunner", f"--job_endpoint={endpoint}", "--environment_type=EXTERNAL",
                f"--environment_config={address}", f"--setup_file={ROOT / 'setup.py'}")
    finally:
        _stop(worker)
    assert _jobs_done(service_log) == 2, service_log.read_text()[-3000:]
    modules = json.loads((home / "modules.json").read_text())
    assert {"transforms.langid", "transforms.near_dedup", "transforms.pack"} <= set(modules), sorted(modules)
    outside = {n: f for n, f in modules.items() if f is not None and not f.startswith(str(site))}
    assert outside == {}, "the workers imported project code from outside the staged sdist"
    _assert_same_outputs(reference, out)
    with tarfile.open(sdist) as tar:  # models were not shipped: the workers read the config's model paths
        assert [m.name for m in tar.getmembers() if m.name.endswith(MODEL_SUFFIXES)] == []
