"""Launcher work on a spare core (pipeline/sidework.py) and the report drawn in pieces
(pipeline/report_html.py `plot_calls` / `render_plots`): the page is the same however its plots were drawn,
and a helper process that fails costs only time."""

from __future__ import annotations

import json
import os

import pytest

from pipeline import sidework
from pipeline.report import assemble_report, curation_stats
from pipeline.report_html import histogram_calls, plot_calls, plot_key, render_html, render_plots
from pipeline.sidework import SideWork


@pytest.fixture(scope="module")
def finished(sample_run):
    report = json.loads((sample_run / "report" / "report.json").read_text())
    timings = json.loads((sample_run / "report" / "timings.json").read_text())
    return sample_run, report, timings


def test_plot_calls_list_every_plot_of_the_page_without_drawing(finished):
    _, report, timings = finished
    calls = plot_calls(report, timings)
    names = [fn.__name__ for fn, _ in calls]
    assert names == ["_funnel_plots", "_drops_plot", "_histogram_plots", "_dedup_plots", "_phase_plot",
                     "_phase_plot", "_fertility_plot", "_timings_plot"]
    assert len({plot_key(fn, args) for fn, args in calls}) == len(calls)


def test_page_is_the_same_whatever_drew_its_plots(finished):
    _, report, timings = finished
    page = render_html(report, timings)
    calls = plot_calls(report, timings)
    assert render_html(report, timings, render_plots(calls)) == page
    assert render_html(report, timings, render_plots(calls[::2])) == page     # the rest drawn by the page
    other = dict(report, histograms={})                                        # plots of other numbers: not used
    stale = render_plots(plot_calls(other, timings))
    assert not set(stale) & {plot_key(fn, args) for fn, args in histogram_calls(report["histograms"])}
    assert render_html(report, timings, stale) == page


def test_curation_stats_are_what_the_report_counts_and_draws(finished):
    run, report, timings = finished
    acc, plots = curation_stats(str(run), report["config"]["run"]["parts"])
    assert assemble_report(str(run), acc) == report
    assert set(plots) == {plot_key(fn, args) for fn, args in histogram_calls(report["histograms"])}
    assert set(plots) < {plot_key(fn, args) for fn, args in plot_calls(report, timings)}


def _where(_: int) -> int:
    return os.getpid()


def _fails_in_a_helper(parent: int) -> str:
    if os.getpid() != parent:
        raise RuntimeError("helper broke")
    return "done here"


def test_side_work_runs_in_a_helper_process_and_redoes_failed_work_inline(caplog):
    with SideWork(enabled=True) as side:
        job = side.submit(_where, 0)
        assert job.future is not None and job.get() != os.getpid()
        assert side.submit(_fails_in_a_helper, os.getpid()).get() == "done here"
    assert "side work _fails_in_a_helper failed in the helper process (RuntimeError: helper broke)" in caplog.text


def test_one_core_means_no_helper(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {1})
    assert sidework.cores() == 1
    side = SideWork()
    job = side.submit(_where, 0)
    assert not side.enabled and job.future is None
    assert job.get() == os.getpid()
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1})
    assert SideWork().enabled



def _dies_in_a_helper(parent: int) -> str:
    if os.getpid() != parent:
        os._exit(3)   # the helper process dies; the pool is broken from here on
    return "done here"


def test_a_helper_that_dies_leaves_every_later_call_to_the_launcher(caplog):
    with SideWork(enabled=True) as side:
        assert side.submit(_dies_in_a_helper, os.getpid()).get() == "done here"
        later = side.submit(_where, 0)
        assert later.future is None and not side.enabled
        assert later.get() == os.getpid()
    assert "side work _dies_in_a_helper failed in the helper process (BrokenProcessPool" in caplog.text
    assert "side work: no helper process for _where (BrokenProcessPool" in caplog.text
