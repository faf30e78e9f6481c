"""Live progress (pipeline/progress.py, transforms/counters.py): snapshots, aggregation, the lines drawn,
when it is shown, and `curate run` end to end (in_memory and multi_processing workers)."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import sys
import time

import apache_beam as beam
import pytest

from pipeline.progress import (
    Progress,
    StageProgress,
    aggregate,
    format_block,
    format_elapsed,
    progress_enabled,
    read_snapshots,
    render,
    with_counts,
)
from pipeline.run import make_pipeline
from tests.conftest import ROOT
from transforms import counters
from transforms.counters import PROGRESS_DIR_ENV, CountingDoFn, StageCounters


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.fixture(autouse=True)
def _no_progress_env(monkeypatch):
    for name in ("CURATE_PROGRESS", "CURATE_PROGRESS_INTERVAL", PROGRESS_DIR_ENV):
        monkeypatch.delenv(name, raising=False)
    yield
    counters.live_progress(None)


# --- when it is shown -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("quiet", "mode", "tty", "shown"), [
    (False, None, True, True), (False, None, False, False), (True, None, True, False),
    (False, "always", False, True), (True, "always", False, False), (False, "never", True, False),
    (False, "ALWAYS", False, True),
])
def test_progress_enabled(monkeypatch, quiet, mode, tty, shown):
    if mode is not None:
        monkeypatch.setenv("CURATE_PROGRESS", mode)
    assert progress_enabled(quiet, _Stream(tty)) is shown


def test_progress_enabled_without_isatty():
    assert progress_enabled(False, object()) is False


# --- pure functions ---------------------------------------------------------------------------------------

def test_aggregate_sums_processes_and_keeps_earliest_first_and_latest_last():
    snaps = [
        {"pid": 1, "stages": {"read": {"first": 10.0, "last": 12.0, "counts": {"docs_in": 5, "kept": 4}},
                              "rules": {"first": 11.0, "last": 11.5, "counts": {"docs_in": 2, "dropped:short": 1}}}},
        {"pid": 2, "stages": {"read": {"first": 9.5, "last": 14.0,
                                       "counts": {"docs_in": 7, "dropped:invalid_json": 1}}}},
    ]
    stages = aggregate(snaps)
    assert stages == {
        "read": StageProgress({"docs_in": 12, "kept": 4, "dropped:invalid_json": 1}, 9.5, 14.0),
        "rules": StageProgress({"docs_in": 2, "dropped:short": 1}, 11.0, 11.5),
    }
    assert stages["read"].rate() == 12 / 4.5
    assert stages["rules"].rate() is None  # seen for less than a second
    assert (stages["read"].kept, stages["read"].dropped, stages["rules"].kept) == (4, 1, None)


def test_with_counts_takes_final_counters_and_snapshot_timings():
    stages = {"read": StageProgress({"docs_in": 10}, 1.0, 3.0)}
    final = {"read": {"docs_in": 12, "kept": 12}, "langid": {"docs_in": 12}, "beam_internal": {"x": 1}}
    assert with_counts(stages, final) == {"read": StageProgress({"docs_in": 12, "kept": 12}, 1.0, 3.0),
                                          "langid": StageProgress({"docs_in": 12}, None, None)}


def test_format_block_lines_in_pipeline_order():
    stages = {
        "rules": StageProgress({"docs_in": 1200, "kept": 1100, "dropped:short": 60, "dropped:stop_words": 40},
                               100.0, 104.0),
        "read": StageProgress({"docs_in": 1234567, "kept": 1234000, "dropped:invalid_json": 567}, 99.0, 99.5),
        "shards": StageProgress({"files": 2, "rows": 11}, 110.0, 110.0),
        "pack": StageProgress({"pad_tokens": 632, "segments": 90, "rows": 11}, 109.0, 111.0),
        "custom": StageProgress({"docs_in": 3}),
    }
    assert format_block("curation", 83.4, stages, width=120) == [
        "curation: 1m23s elapsed",
        "  stage                docs in        kept     dropped    docs/s",
        "  read               1,234,567   1,234,000         567         -",
        "  rules                  1,200       1,100         100       300",
        "  pack                       -           -           -         -  rows 11, segments 90, pad_tokens 632",
        "  shards                     -           -           -         -  rows 11, files 2",
        "  custom                     3           -           -         -",
    ]
    assert format_block("mixing", 3725, {"read": stages["read"]}, width=60, status="done") == [
        "mixing: 1h02m05s elapsed (done)",
        "  stage                docs in        kept     dropped  ...",
        "  read               1,234,567   1,234,000         567  ...",
    ]
    assert format_block("curation", 0.25, {}) == ["curation: 0.2s elapsed"]


def test_format_rates_and_elapsed():
    slow = StageProgress({"docs_in": 45}, 0.0, 10.0)
    fast = StageProgress({"docs_in": 1_500_000}, 0.0, 60.0)
    assert format_block("j", 59.96, {"read": slow, "langid": fast}, width=200)[2:] == [
        "  read                      45           -           -       4.5",
        "  langid             1,500,000           -           -    25,000",
    ]
    assert [format_elapsed(s) for s in (0, 9.94, 60, 61.5, 3599, 3600, 90061)] == [
        "0.0s", "9.9s", "1m00s", "1m01s", "59m59s", "1h00m00s", "25h01m01s"]


def test_render_redraws_in_place_on_a_terminal_only():
    assert render(["a", "b"], 0, tty=True) == "a\nb\n"
    assert render(["a", "b", "c"], 2, tty=True) == "\r\x1b[2A\x1b[Ja\nb\nc\n"
    assert render(["a"], 2, tty=False) == "a\n"


# --- snapshots of this process's counts -------------------------------------------------------------------

def test_counts_are_written_to_a_pid_file_summed_over_instances(tmp_path):
    one, two, other = StageCounters("rules"), StageCounters("rules"), StageCounters("read")
    one.inc("docs_in")  # before live progress: not in the snapshot
    counters.live_progress(str(tmp_path))
    one.inc("docs_in")
    two.inc("docs_in", 2)
    two.inc("dropped:short")
    other.inc("docs_in", 5)
    counters.live_progress(None)  # the last snapshot is written on close
    one.inc("docs_in")            # after: not counted
    assert sorted(os.listdir(tmp_path)) == [f"{os.getpid()}.json"]
    (snap,) = read_snapshots(str(tmp_path))
    assert snap["pid"] == os.getpid()
    assert {s: e["counts"] for s, e in snap["stages"].items()} == {
        "read": {"docs_in": 5}, "rules": {"docs_in": 3, "dropped:short": 1}}
    assert all(e["first"] <= e["last"] <= snap["time"] for e in snap["stages"].values())


def test_an_unchanged_table_is_not_rewritten(tmp_path):
    live = counters._LiveCounts(str(tmp_path), every=3600)
    table = live.table("read")
    table["docs_in"] = 1
    assert live.snapshot()["stages"]["read"]["counts"] == {"docs_in": 1}
    assert live.snapshot() is None
    table["docs_in"] = 2
    assert live.snapshot()["stages"]["read"]["counts"] == {"docs_in": 2}
    live.close()


def test_a_pickled_stage_counter_starts_with_an_empty_table(tmp_path):
    import pickle

    counters.live_progress(str(tmp_path))
    c = StageCounters("rules")
    c.inc("kept", 4)
    copy = pickle.loads(pickle.dumps(c))
    copy.inc("kept")
    counters.live_progress(None)
    (snap,) = read_snapshots(str(tmp_path))
    assert snap["stages"]["rules"]["counts"] == {"kept": 5}


# --- the context manager ----------------------------------------------------------------------------------

def _wait_for(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_progress_draws_live_then_the_last_snapshot_and_cleans_up():
    stream = _Stream(tty=False)
    with Progress("curation", True, stream=stream, interval=0.05, width=100):
        directory = os.environ[PROGRESS_DIR_ENV]
        c = StageCounters("read")
        c.inc("docs_in", 3)
        c.inc("kept", 2)
        assert _wait_for(lambda: "  read " in stream.getvalue())  # the writer thread's snapshot, then a redraw
        c.inc("docs_in", 4)
        c.inc("dropped:invalid_json")
    assert PROGRESS_DIR_ENV not in os.environ and counters._live is None
    assert not os.path.exists(directory)
    text = stream.getvalue()
    assert "\x1b[" not in text
    final = text.splitlines()[-3:]
    assert re.fullmatch(r"curation: \d+\.\ds elapsed \(last snapshot\)", final[0])
    assert final[1] == "  stage                docs in        kept     dropped    docs/s"
    assert final[2].split()[:4] == ["read", "7", "2", "1"]  # the rate depends on the machine's speed


def test_progress_redraws_in_place_on_a_terminal():
    stream = _Stream(tty=True)
    with Progress("mixing", True, stream=stream, interval=0.05, width=100):
        StageCounters("mix").inc("docs_in", 9)
        assert _wait_for(lambda: "  mix " in stream.getvalue())
    text = stream.getvalue()
    assert "\r\x1b[3A\x1b[J" in text  # the final block over the live one: header, column names, one stage
    assert text.endswith("\n") and text.splitlines()[-1].split()[:4] == ["mix", "9", "-", "-"]


def test_a_failed_job_shows_its_last_snapshot_and_restores_the_environment(monkeypatch):
    monkeypatch.setenv(PROGRESS_DIR_ENV, "/somewhere/else")
    stream = _Stream(tty=False)
    with pytest.raises(RuntimeError), Progress("curation", True, stream=stream, interval=60):
        StageCounters("langid").inc("docs_in", 2)
        raise RuntimeError("boom")
    assert os.environ[PROGRESS_DIR_ENV] == "/somewhere/else"
    assert counters._live is not None and counters._live.directory == "/somewhere/else"
    lines = stream.getvalue().splitlines()
    assert re.fullmatch(r"curation: \d+\.\ds elapsed \(stopped; last snapshot\)", lines[0])
    assert lines[2] == "  langid                     2           -           -         -"


def test_nothing_is_shown_when_disabled_or_when_nothing_was_counted():
    stream = _Stream(tty=True)
    with Progress("curation", False, stream=stream, interval=0.01):
        assert PROGRESS_DIR_ENV not in os.environ
        StageCounters("read").inc("docs_in")
        time.sleep(0.05)
    with pytest.raises(ValueError), Progress("curation", True, stream=stream, interval=60):
        raise ValueError("a config error before the job starts")
    assert stream.getvalue() == ""


def test_the_final_block_of_an_attached_job_has_its_beam_counters():
    class Count(CountingDoFn):  # its counts reach Beam at the end of each bundle
        def __init__(self):
            self._counters = StageCounters("rules")

        def process(self, x):
            self._counters.inc("docs_in")
            self._counters.inc("kept" if x % 3 else "dropped:short")
            yield x

    stream = _Stream(tty=False)
    with Progress("curation", True, stream=stream, interval=60) as shown, make_pipeline([]) as p:
        shown.attach(p)
        _ = p | beam.Create(range(1000)) | beam.ParDo(Count())
    lines = stream.getvalue().splitlines()
    assert re.fullmatch(r"curation: \d+\.\ds elapsed \(done\)", lines[0])
    assert lines[2].split()[:4] == ["rules", "1,000", "666", "334"]


_RANGE_RECORDS: list[int] = []


def _note_records(kv):  # module level: the in_memory runner resolves it in this process, not a copy
    _RANGE_RECORDS.append(kv[1])


def test_read_counts_docs_in_within_a_range_and_exactly_in_total(tmp_path):
    from transforms.read import ReadConfig, ReadDocuments, SourceConfig

    def lines(start):
        return b"".join(b'{"id": "%d", "text": "t"}\n' % i for i in range(start, start + 2500))

    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(lines(0)))  # one range of 2,500 records
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(lines(10_000))[:-200])  # cut: lines + truncated_file
    src = SourceConfig(name="web", paths=(str(tmp_path / "*.jsonl.gz"),), id_field="id")
    increments = []
    real_inc = StageCounters.inc

    def spy(self, name, n=1):
        if self._stage == "read" and name == "docs_in":
            increments.append(n)
        real_inc(self, name, n)

    stream = _Stream(tty=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(StageCounters, "inc", spy)
        with Progress("curation", True, stream=stream, interval=60) as shown, make_pipeline([]) as p:
            shown.attach(p)
            _RANGE_RECORDS.clear()
            out = p | ReadDocuments((src,), ReadConfig())
            _ = out[ReadDocuments.COUNTS] | beam.Map(_note_records)
    records = sum(_RANGE_RECORDS)
    assert sorted(_RANGE_RECORDS)[-1] == 2500 and len(_RANGE_RECORDS) == 2
    assert increments.count(1000) >= 3 and sum(increments) == records
    line = [ln for ln in stream.getvalue().splitlines() if ln.startswith("  read ")][-1]
    assert line.split()[1] == f"{records:,}" and line.split()[3] == "1"  # the cut file's truncated_file


# --- the command line -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """120 lines of the English web sample and a config that runs both jobs in a few seconds."""
    d = tmp_path_factory.mktemp("progress")
    lines = gzip.open(ROOT / "data" / "sample" / "web_en.jsonl.gz", "rt", encoding="utf-8").read().splitlines()
    (d / "web.jsonl").write_text("\n".join(lines[:120]) + "\n", encoding="utf-8")
    config = d / "c.yaml"
    config.write_text(f"sources: [{{name: web, paths: ['{d}/web.jsonl'], id_field: id}}]\n"
                      "tokenizer: {train: {vocab_size: 1000}}\n"
                      "phases: [{name: p, tokens: 5000, seq_len: 512, weights: {web: 1}}]\n")
    records = sum(1 for line in lines[:120] if line.strip())
    return config, records


@pytest.mark.parametrize(("argv", "mode", "shown"), [
    ([], None, False), ([], "always", True), (["--quiet"], "always", False), (["-q"], None, False),
])
def test_cli_passes_progress_to_run(monkeypatch, tiny, tmp_path, argv, mode, shown):
    import pipeline.run
    from pipeline.cli import main
    from pipeline.config import ConfigError

    if mode:
        monkeypatch.setenv("CURATE_PROGRESS", mode)
    seen = {}

    def fake_run(*args, progress=False, **kwargs):
        seen["progress"] = progress
        raise ConfigError("stop here")

    monkeypatch.setattr(pipeline.run, "run", fake_run)
    assert main(["run", "--config", str(tiny[0]), "--output", str(tmp_path / "o"), *argv]) == 2
    assert seen == {"progress": shown}  # pytest's captured stderr is not a terminal


def _curate(tmp_path, config, *args, env=None):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CURATE_PROGRESS")}
    environ.update(env or {}, TMPDIR=str(tmp))
    result = subprocess.run([sys.executable, "-m", "pipeline", "run", "--config", str(config), "--output",
                             str(tmp_path / "out"), *args], capture_output=True, text=True, env=environ, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp.iterdir() if p.name.startswith("curate-progress-")] == []  # cleaned up
    return result


def _blocks(stderr: str, label: str) -> list[tuple[str, list[str]]]:
    """(header, stage lines) of every block of a job drawn on stderr."""
    lines = stderr.splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.startswith(f"{label}: ") and " elapsed" in line:
            body = []
            for nxt in lines[i + 1:]:
                if not nxt.startswith("  "):
                    break
                body.append(nxt)
            blocks.append((line, body[1:]))
    return blocks


def _row(body: list[str], stage: str) -> list[str]:
    (line,) = [ln for ln in body if ln.split()[0] == stage]
    return line.split()[1:]


def _report_totals(tmp_path) -> dict:
    return json.loads((tmp_path / "out" / "report" / "report.json").read_text())["totals"]


@pytest.mark.parametrize("beam_args", [[], ["--", "--direct_running_mode=multi_processing", "--direct_num_workers=2"]],
                         ids=["in_memory", "multi_processing"])
def test_run_shows_live_progress_and_exact_final_counts(tmp_path, lid_model, tiny, beam_args):
    config, records = tiny
    result = _curate(tmp_path, config, *beam_args,
                     env={"CURATE_PROGRESS": "always", "CURATE_PROGRESS_INTERVAL": "0.2"})
    totals = _report_totals(tmp_path)
    assert totals["read"] == records
    curation = _blocks(result.stderr, "curation")
    assert len(curation) >= 2
    *live, (header, final) = curation
    assert header.endswith("elapsed (done)")
    assert all(not h.endswith(")") for h, _ in live)
    # live blocks showed stage lines while the job ran: in multi_processing only the workers count, so
    # these came from their snapshot files
    assert any(body for _, body in live)
    assert _row(final, "read")[0] == f"{records:,}"
    assert _row(final, "near_dedup")[1] == f"{totals['kept']:,}"
    stages = [ln.split()[0] for ln in final]
    assert stages == ["read", "urls", "extract", "normalize", "exact_dedup", "langid", "rules", "safety",
                      "near_dedup"]
    (*_, (header, final)) = _blocks(result.stderr, "mixing")
    assert header.endswith("elapsed (done)")
    assert _row(final, "tokenize")[0] == f"{totals['kept']:,}"
    assert [ln.split()[0] for ln in final] == ["tokenize", "mix", "pack", "shards"]
    assert "\x1b[" not in result.stderr  # stderr is a pipe: blocks are appended, not redrawn


@pytest.mark.parametrize(("args", "env"), [(["--quiet"], {"CURATE_PROGRESS": "always"})], ids=["quiet"])
def test_run_without_progress_prints_no_block(tmp_path, lid_model, tiny, args, env):
    # (the non-terminal default is covered by test_cli_passes_progress_to_run without a full run)
    result = _curate(tmp_path, tiny[0], *args, env=env)
    assert _blocks(result.stderr, "curation") == [] and _blocks(result.stderr, "mixing") == []
    assert "docs in" not in result.stderr
    assert _report_totals(tmp_path)["read"] == tiny[1]
