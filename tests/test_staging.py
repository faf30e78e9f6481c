"""`--setup_file` staging: the package Beam builds from setup.py and ships to the workers holds every module
and package file they import, installs offline, and carries no models (workers read models from the paths
or URIs in the config: a gs:// URI on Dataflow, or a custom SDK container with the model baked in)."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("pipeline", "transforms", "tokenizer")
MODEL_SUFFIXES = (".ftz", ".bin", ".model", ".onnx", ".safetensors", ".pt")


def staged_sdist(tmp_path: Path) -> Path:
    """The tarball Beam stages as workflow.tar.gz for `--setup_file`, built by the same call the runners
    make (stager.py: Stager.create_job_resources -> _build_setup_package: `python -m build --sdist
    --no-isolation` when `build` is installed, else `python setup.py sdist`)."""
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.portability import common_urns
    from apache_beam.portability.api import beam_runner_api_pb2
    from apache_beam.runners.portability.stager import WORKFLOW_TARBALL_FILE, Stager

    build = tmp_path / "stage"
    build.mkdir()
    options = PipelineOptions([f"--setup_file={ROOT / 'setup.py'}"])
    for artifact in Stager.create_job_resources(options, str(build), log_submission_env_dependencies=False):
        if artifact.role_urn != common_urns.artifact_roles.STAGING_TO.urn:
            continue
        role = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(artifact.role_payload)
        if role.staged_name == WORKFLOW_TARBALL_FILE:
            return Path(beam_runner_api_pb2.ArtifactFilePayload.FromString(artifact.type_payload).path)
    raise AssertionError("no workflow tarball among the staged artifacts")


def install_sdist(sdist: Path, target: Path) -> None:
    """What a worker's boot does with workflow.tar.gz, offline: build a wheel from the sdist and install it
    (dependencies are the image's business: here the venv's, on Dataflow the Beam image plus PyPI)."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--no-build-isolation", "--target", str(target), str(sdist)], check=True, timeout=300)


def repo_package_files() -> set[str]:
    """Every file of the worker packages in the repository (not caches): modules and package data."""
    files = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.add(path.relative_to(ROOT).as_posix())
    return files


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    return staged_sdist(tmp_path_factory.mktemp("sdist"))


def _members(sdist: Path) -> set[str]:
    with tarfile.open(sdist) as tar:
        return {m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile() and "/" in m.name}


def test_setup_file_stages_an_sdist_with_every_worker_module_and_package_file(sdist):
    members = _members(sdist)
    wanted = repo_package_files()
    assert {f"{p}/__init__.py" for p in PACKAGES} <= wanted
    assert sorted(wanted - members) == []
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(declared["packages"]) == set(PACKAGES)   # the packages the workers import are the ones built
    for package, patterns in declared.get("package-data", {}).items():
        for pattern in patterns:
            for path in (ROOT / package).glob(pattern):
                assert path.relative_to(ROOT).as_posix() in members, path
    assert {"setup.py", "pyproject.toml", "PKG-INFO"} <= members


def test_staged_sdist_carries_no_models_and_stays_small(sdist):
    members = _members(sdist)
    assert [m for m in members if m.endswith(MODEL_SUFFIXES)] == []
    assert not any(m.startswith(("data/", "configs/", "out/", ".venv/")) for m in members)
    assert sdist.stat().st_size < 2_000_000, sdist.stat().st_size


def test_installed_sdist_imports_every_worker_module_from_itself(sdist, tmp_path):
    """Installed the way a worker installs it, into a directory of its own, every module imports from
    there (not from this checkout) in a process started elsewhere."""
    site = tmp_path / "site"
    install_sdist(sdist, site)
    modules = sorted(f[:-3].replace("/", ".").removesuffix(".__init__")
                     for f in repo_package_files() if f.endswith(".py") and not f.endswith("__main__.py"))
    code = ("import importlib, json, sys\n"
            f"mods = {modules!r}\n"
            "print(json.dumps({m: importlib.import_module(m).__file__ for m in mods}))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    files = json.loads(result.stdout.splitlines()[-1])
    assert sorted(files) == modules
    assert {m: f for m, f in files.items() if not f.startswith(str(site))} == {}
