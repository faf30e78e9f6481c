"""Shared fixtures: paths, the real lid.176.ftz model, and small document builders."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pipeline.models import default_lid_model

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

logging.getLogger("apache_beam").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def lid_model() -> str:
    path = default_lid_model()
    if not Path(path).exists():
        pytest.fail(f"{path} is missing: run `make setup` (or `curate fetch-models`) first")
    return path


def require_shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data not found at {SHARED_DATA}: tests on third-party data need it")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory, lid_model) -> Path:
    """One `curate run` of configs/sample.yaml, shared by the tests that only read its outputs (copy it
    before changing anything)."""
    from pipeline.cli import main

    out = tmp_path_factory.mktemp("sample-run") / "out"
    assert main(["run", "--config", str(ROOT / "configs" / "sample.yaml"), "--output", str(out)]) == 0
    return out
