"""pipeline/local_runner.py: a Flatten that only feeds a GroupByKey is written straight into the group, with
the same results, in both local modes; other Flattens stay as Beam plans them."""

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner, translations
from apache_beam.testing.util import assert_that, equal_to

from pipeline.local_runner import PHASES_AFTER, PHASES_BEFORE, LocalRunner, flatten_into_groups
from pipeline.run import make_pipeline
from transforms.joins import GroupTagged

MODES = [["--direct_running_mode=in_memory"],
         ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]]
MODE_IDS = ["in_memory", "multi_processing_2"]


def _sorted_group(kv):
    return kv[0], sorted(kv[1])


def _groups(pairs):
    """What a GroupByKey of `pairs` gives, as `_sorted_group` rows in key order."""
    grouped = {}
    for k, v in pairs:
        grouped.setdefault(k, []).append(v)
    return sorted((k, sorted(v)) for k, v in grouped.items())


def _joined(p: beam.Pipeline) -> tuple[beam.PCollection, beam.PCollection]:
    """Three inputs from different stages (one after a shuffle of its own), flattened and grouped."""
    a = p | "A" >> beam.Create([(k % 7, f"a{k}") for k in range(500)], reshuffle=False)
    b = (p | "B" >> beam.Create([(k % 5, f"b{k}") for k in range(300)], reshuffle=False)
         | "ShuffleB" >> beam.Reshuffle())
    c = p | "C" >> beam.Create([(k, f"c{k}") for k in range(3)], reshuffle=False) | "MapC" >> beam.Map(lambda kv: kv)
    grouped = (a, b, c) | "Flatten" >> beam.Flatten() | "Group" >> beam.GroupByKey() | beam.Map(_sorted_group)
    return grouped, _groups([*((k % 7, f"a{k}") for k in range(500)), *((k % 5, f"b{k}") for k in range(300)),
                             *((k, f"c{k}") for k in range(3))])


def _stage_names(runner: FnApiRunner, build) -> list[str]:
    p = beam.Pipeline(runner=runner)
    build(p)
    _, stages = runner.create_stages(p.to_runner_api())
    return [s.name for s in stages]


def test_phases_are_fn_api_runners_with_one_added(monkeypatch):
    seen = {}

    def spy(proto, phases, **kwargs):
        seen["phases"] = list(phases)
        raise StopIteration

    monkeypatch.setattr(translations, "create_and_optimize_stages", spy)
    with pytest.raises(StopIteration):
        FnApiRunner().create_stages(beam.Pipeline(runner=FnApiRunner()).to_runner_api())
    assert seen["phases"] == [*PHASES_BEFORE, *PHASES_AFTER]
    with pytest.raises(StopIteration):
        LocalRunner().create_stages(beam.Pipeline(runner=LocalRunner()).to_runner_api())
    assert seen["phases"] == [*PHASES_BEFORE, flatten_into_groups, *PHASES_AFTER]


def test_flatten_into_a_group_has_no_read_stage_of_its_own():
    def build(p):
        _joined(p)

    assert any("Flatten/Read" in name for name in _stage_names(FnApiRunner(), build))
    names = _stage_names(LocalRunner(), build)
    assert not any("Flatten/Read" in name for name in names)
    assert sum("Flatten/Group/" in name for name in names) == 3   # each input's write, fused into its producer


@pytest.mark.parametrize("args", MODES, ids=MODE_IDS)
def test_flatten_into_a_group_keeps_every_element(args):
    with make_pipeline(args) as p:
        assert isinstance(p.runner, LocalRunner)
        grouped, expected = _joined(p)
        assert_that(grouped, equal_to(expected))


@pytest.mark.parametrize("args", MODES, ids=MODE_IDS)
def test_a_flatten_read_elsewhere_too_is_left_to_beam(args):
    """A Flatten with a second consumer (here a count) keeps Beam's materialized copy, and both consumers
    see every element."""
    def build(p):
        a = p | "A" >> beam.Create([(k % 3, k) for k in range(40)], reshuffle=False)
        b = p | "B" >> beam.Create([(k % 3, -k) for k in range(1, 20)], reshuffle=False)
        both = (a, b) | "Flatten" >> beam.Flatten()
        grouped = both | "Group" >> beam.GroupByKey() | beam.Map(_sorted_group)
        count = both | "Count" >> beam.combiners.Count.Globally()
        return grouped, count

    assert any("Flatten/Read" in name for name in _stage_names(LocalRunner(), build))
    with make_pipeline(args) as p:
        grouped, count = build(p)
        assert_that(grouped, equal_to(_groups([*((k % 3, k) for k in range(40)),
                                               *((k % 3, -k) for k in range(1, 20))])))
        assert_that(count, equal_to([59]), label="count")


@pytest.mark.parametrize("args", MODES, ids=MODE_IDS)
def test_one_input_twice_and_two_inputs_from_one_stage(args):
    """Flatten((a, a, b)) with a and b made in the same fused stage: a's elements are grouped twice."""
    def build(p):
        made = (p | "Make" >> beam.Create(list(range(30)), reshuffle=False)
                | "Split" >> beam.FlatMap(lambda k: [beam.pvalue.TaggedOutput("b", (k % 4, -k)), (k % 4, k)]
                                          ).with_outputs("b", main="a"))
        return (made.a, made.a, made.b) | "Flatten" >> beam.Flatten() | "Group" >> beam.GroupByKey() | beam.Map(
            _sorted_group)

    names = _stage_names(LocalRunner(), build)
    assert not any("Flatten/Read" in n for n in names)
    assert sum(n.count("Flatten/Group/") for n in names) == 3 and sum("Flatten/Group/" in n for n in names) == 1
    with make_pipeline(args) as p:
        assert_that(build(p), equal_to(_groups((k % 4, v) for k in range(30) for v in (k, k, -k))))


def test_a_flatten_into_a_lifted_combine_is_left_to_beam():
    """A CombinePerKey is lifted (a partial combine before its GroupByKey), so the Flatten's consumer is not
    a group write: Beam's copy stays."""
    def build(p):
        a = p | "A" >> beam.Create([(k % 3, k) for k in range(10)], reshuffle=False)
        b = p | "B" >> beam.Create([(k % 3, k) for k in range(10)], reshuffle=False)
        return (a, b) | "Flatten" >> beam.Flatten() | "Sum" >> beam.CombinePerKey(sum)

    assert any("Flatten/Read" in n for n in _stage_names(LocalRunner(), build))
    with make_pipeline(MODES[0]) as p:
        assert_that(build(p), equal_to([(0, 36), (1, 24), (2, 30)]))


@pytest.mark.parametrize("args", MODES, ids=MODE_IDS)
def test_group_tagged_join_with_encoded_values(args):
    """The curation job's join (transforms/joins.py) with pickled values, on the runner that runs it."""
    with make_pipeline(args) as p:
        docs = p | "Docs" >> beam.Create([(f"d{k}", {"text": "x" * k}) for k in range(50)], reshuffle=False)
        verdicts = (p | "Verdicts" >> beam.Create([(f"d{k}", k % 2 == 0) for k in range(0, 50, 5)], reshuffle=False)
                    | "Shuffle" >> beam.Reshuffle())
        joined = ({"doc": docs, "verdict": verdicts} | "Join" >> GroupTagged(encoded=True, compress=False)
                  | beam.Map(lambda kv: (kv[0], sorted(repr(v) for v in kv[1]))))
        expected = [(f"d{k}", sorted([repr(("doc", {"text": "x" * k}))]
                                     + ([repr(("verdict", k % 2 == 0))] if k % 5 == 0 else [])))
                    for k in range(50)]
        assert_that(joined, equal_to(expected))


def test_the_curation_jobs_joins_and_writers_group_without_a_flatten_stage():
    """Every GroupTagged join and the rejected/ writer of the curation graph (configs/sample.yaml, with
    near-dedup and decontamination) write into their groups; a Flatten that feeds
    something else (the report examples' samples) is still Beam's copy."""
    from pathlib import Path

    from pipeline.config import load_config
    from pipeline.graph import build_curation

    cfg = load_config(str(Path(__file__).resolve().parents[1] / "configs" / "sample.yaml"))
    runner = LocalRunner()
    names = _stage_names(runner, lambda p: build_curation(p, cfg, "/nonexistent/out"))
    steps = {part for name in names for part in name.replace("(", " ").replace(")", " ").split()}
    assert not {s for s in steps if s.endswith(("/Flatten/Read", "/AllItems/Read"))}
    assert "DropExamples/AllSamples/Read" in steps
    beam_names = _stage_names(FnApiRunner(), lambda p: build_curation(p, cfg, "/nonexistent/out"))
    assert any("NearDedup/JoinDocs/Flatten/Read" in n for n in beam_names)
    assert any("WriteRejected/AllItems/Read" in n for n in beam_names)
