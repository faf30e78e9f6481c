"""Runner profiles (configs/runners/*.yaml, `curate run --runner-profile`): expansion and how the options
reach the run. Nothing here talks to a cloud: the options are only parsed by Beam."""

from __future__ import annotations

from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import (
    DebugOptions,
    FlinkRunnerOptions,
    GoogleCloudOptions,
    PipelineOptions,
    PortableOptions,
    SetupOptions,
    StandardOptions,
    WorkerOptions,
)

import pipeline.run
from pipeline.cli import main, runner_profile_args
from pipeline.config import ConfigError
from tests.conftest import ROOT

PROFILES = ROOT / "configs" / "runners"
CONFIG = ROOT / "configs" / "sample.yaml"
ENV = {"GCP_PROJECT": "proj", "GCP_REGION": "europe-west4", "CURATE_BUCKET": "bkt",
       "CURATE_IMAGE": "europe-west4-docker.pkg.dev/proj/curate/curate:0.1.0", "FLINK_MASTER": "jm:8081"}


def test_every_profile_expands_to_beam_options_without_placeholders():
    profiles = sorted(PROFILES.glob("*.yaml"))
    assert {p.stem for p in profiles} >= {"dataflow", "dataflow-container", "flink"}
    for profile in profiles:
        args = runner_profile_args(str(profile), ENV)
        assert args and all(a.startswith("--") and "${" not in a for a in args), (profile, args)
        assert PipelineOptions(args).view_as(StandardOptions).runner, profile


def test_dataflow_profiles():
    args = runner_profile_args(str(PROFILES / "dataflow.yaml"), ENV)
    options = PipelineOptions(args)
    gcp = options.view_as(GoogleCloudOptions)
    assert options.view_as(StandardOptions).runner == "DataflowRunner"
    assert (gcp.project, gcp.region, gcp.temp_location) == ("proj", "europe-west4", "gs://bkt/tmp")
    assert "use_runner_v2" in options.view_as(DebugOptions).experiments
    setup_file = Path(options.view_as(SetupOptions).setup_file)
    assert setup_file.resolve() == ROOT / "setup.py"   # from the profile's own directory, whatever the cwd
    workers = options.view_as(WorkerOptions)
    assert (workers.machine_type, workers.max_num_workers) == ("n2-standard-4", 50)   # ${VAR:-default}

    container = PipelineOptions(runner_profile_args(str(PROFILES / "dataflow-container.yaml"),
                                                    {**ENV, "DATAFLOW_MAX_WORKERS": "400"}))
    assert container.view_as(WorkerOptions).sdk_container_image == ENV["CURATE_IMAGE"]
    assert container.view_as(WorkerOptions).max_num_workers == 400
    assert container.view_as(SetupOptions).setup_file is None   # the image holds the project


def test_flink_profile():
    options = PipelineOptions(runner_profile_args(str(PROFILES / "flink.yaml"), ENV))
    assert options.view_as(StandardOptions).runner == "FlinkRunner"
    assert options.view_as(FlinkRunnerOptions).flink_master == "jm:8081"
    assert options.view_as(FlinkRunnerOptions).flink_version == "1.19"
    portable = options.view_as(PortableOptions)
    assert (portable.environment_type, portable.environment_config) == ("DOCKER", ENV["CURATE_IMAGE"])


def test_missing_variables_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"set GCP_PROJECT, GCP_REGION, CURATE_BUCKET in the environment"):
        runner_profile_args(str(PROFILES / "dataflow.yaml"), {})
    with pytest.raises(ConfigError, match="set CURATE_IMAGE"):   # empty counts as unset
        runner_profile_args(str(PROFILES / "dataflow-container.yaml"), {**ENV, "CURATE_IMAGE": ""})


@pytest.mark.parametrize("text", ["runner: DataflowRunner\n", "- runner=DataflowRunner\n", "[1, 2\n"])
def test_malformed_profiles_are_config_errors(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="--runner-profile"):
        runner_profile_args(str(path), {})
    with pytest.raises(ConfigError, match="No such file"):
        runner_profile_args(str(tmp_path / "missing.yaml"), {})


def test_curate_run_puts_profile_options_before_the_ones_after_dashes(tmp_path, monkeypatch):
    profile = tmp_path / "local.yaml"
    profile.write_text("- --direct_running_mode=in_memory\n- --job_name=${JOB:-sample}\n")
    seen = {}

    def fake_run(cfg, output, beam_args, **kwargs):
        seen["beam_args"] = beam_args
        raise ConfigError("stop here")

    monkeypatch.setattr(pipeline.run, "run", fake_run)
    monkeypatch.delenv("JOB", raising=False)
    code = main(["run", "--config", str(CONFIG), "--output", str(tmp_path / "out"), "--runner-profile", str(profile),
                 "--", "--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    assert code == 2
    assert seen["beam_args"] == ["--direct_running_mode=in_memory", "--job_name=sample",
                                 "--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    # a later option wins in Beam's parser
    assert PipelineOptions(seen["beam_args"]).get_all_options()["direct_running_mode"] == "multi_processing"


def test_curate_run_with_unset_profile_variables_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    for name in ("GCP_PROJECT", "GCP_REGION", "CURATE_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    code = main(["run", "--config", str(CONFIG), "--output", str(tmp_path / "out"),
                 "--runner-profile", str(PROFILES / "dataflow.yaml")])
    assert code == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("curate:")]
    assert err == [f"curate: error: --runner-profile {PROFILES / 'dataflow.yaml'}: set GCP_PROJECT, GCP_REGION, "
                   "CURATE_BUCKET in the environment"]


def test_cached_view_options_build_each_view_once_and_share_values(monkeypatch):
    import copy
    import pickle

    from apache_beam.options.pipeline_options import DirectOptions, TypeOptions

    built = []
    original = PipelineOptions.view_as
    monkeypatch.setattr(PipelineOptions, "view_as", lambda self, cls: built.append(cls) or original(self, cls))
    options = pipeline.run.CachedViewOptions(["--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    for _ in range(3):
        assert options.view_as(TypeOptions).disable_beartype is False
    assert built == [TypeOptions]
    direct = options.view_as(DirectOptions)
    assert direct is options.view_as(DirectOptions) and direct.direct_num_workers == 2
    options.view_as(StandardOptions).runner = "PortableRunner"  # a write through one view reaches every view
    assert options.get_all_options()["runner"] == "PortableRunner"
    for twin in (copy.deepcopy(options), pickle.loads(pickle.dumps(options))):  # copies start without views
        assert "_views" not in twin.__dict__
        assert twin.view_as(DirectOptions).direct_num_workers == 2
        assert twin.view_as(StandardOptions).runner == "PortableRunner"


def test_pipelines_use_cached_view_options():
    p = pipeline.run.make_pipeline(["--direct_running_mode=in_memory"])
    assert isinstance(p.options, pipeline.run.CachedViewOptions)
