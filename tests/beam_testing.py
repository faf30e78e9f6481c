"""Beam's TestPipeline on the runner the project uses (never the default DirectRunner, which on Beam 2.77
first tries to download Prism)."""

from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline


def fn_api_test_pipeline() -> TestPipeline:
    return TestPipeline(runner=FnApiRunner())
