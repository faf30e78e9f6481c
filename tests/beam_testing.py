"""Beam's TestPipeline on the runner the project uses (never the default DirectRunner, which on Beam 2.77
first tries to download Prism): the FnApiRunner of pipeline/local_runner.py, as `curate run` uses it."""

from apache_beam.testing.test_pipeline import TestPipeline

from pipeline.local_runner import LocalRunner


def fn_api_test_pipeline() -> TestPipeline:
    return TestPipeline(runner=LocalRunner())
