"""LocalRunner: Beam's FnApiRunner, with a Flatten that only feeds a GroupByKey written straight into the group.

Beam 2.77's FnApiRunner materializes every multi-input Flatten (`translations.sink_flattens`, whose own
TODO reads "Actually attempt to sink rather than always materialize"): each input is written to a buffer,
and a stage of its own reads the buffer back through a worker and writes it on, here to the GroupByKey.
Every join of the curation job (transforms/joins.py `GroupTagged`: tag, Flatten, GroupByKey) and the
rejected/ writer's Flatten of the stages' drops pay that copy: on the 100 MB benchmark corpus, the
near-dedup joins moved every document and every document's shingle hashes through it, about 1 s of the
2-worker run's 63 s, with a core idle while the runner moved the bytes (BENCHMARKS.md).

`flatten_into_groups` is one more translation phase, run before `sink_flattens`: when a multi-input
Flatten's only consumer is a GroupByKey's write, each input writes into the group itself (the runner's
grouping buffer takes writes from several stages, as a Flatten's buffer does), and the Flatten and its read
stage are gone. Same elements in the same group, so the same outputs; other Flattens are left to
`sink_flattens`. Dataflow and Flink plan Flattens themselves (Dataflow "unzips" them into their
consumers), so this is the local runner catching up, not a change to the graph.

The phase list is FnApiRunner.create_stages' own on Beam 2.77.0 (pinned in pyproject.toml), with the one
phase added; tests/test_local_runner.py checks the list against Beam's. Two more internals it relies on,
to re-read when Beam is upgraded: the runner's grouping buffer takes its coder from the data-channel
coder of the GroupByKey's input (execution.py `get_buffer`), and a buffer with several producing stages
waits for all of them (watermark_manager.py `upstream_watermark`, as for Beam's own Flatten buffers).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable

from apache_beam.portability import common_urns
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.portability.fn_api_runner import FnApiRunner, translations
from apache_beam.runners.worker import bundle_processor

FLATTEN_URN = common_urns.primitives.FLATTEN.urn


def _group_write(stage: translations.Stage) -> bytes | None:
    """The grouping buffer a stage writes to, when the stage is only a GroupByKey's write (expand_gbk)."""
    if len(stage.transforms) != 1:
        return None
    spec = stage.transforms[0].spec
    if spec.urn != bundle_processor.DATA_OUTPUT_URN:
        return None
    kind, _ = translations.split_buffer_id(spec.payload)
    return spec.payload if kind == "group" else None


def flatten_into_groups(stages: Iterable[translations.Stage],
                        context: translations.TransformContext) -> list[translations.Stage]:
    """A translation phase (after `expand_gbk`, before `sink_flattens`): each multi-input Flatten whose
    output only a GroupByKey's write reads becomes one write into the group per input."""
    # inputs take the Flatten's output coder first (identity transcodes where they differ), as sink_flattens does
    stages = list(translations.fix_flatten_coders(stages, context, FLATTEN_URN))
    consumers: dict[str, list[translations.Stage]] = defaultdict(list)
    for stage in stages:
        for transform in stage.transforms:
            for pcoll in transform.inputs.values():
                consumers[pcoll].append(stage)
    replaced: dict[translations.Stage, list[translations.Stage]] = {}   # Flatten and group write -> new writes
    for stage in stages:
        if len(stage.transforms) != 1:
            continue
        flatten = stage.transforms[0]
        if flatten.spec.urn != FLATTEN_URN or len(flatten.inputs) < 2:
            continue
        output = translations.only_element(flatten.outputs.values())
        readers = consumers[output]
        if len(readers) != 1 or (buffer_id := _group_write(readers[0])) is None:
            continue
        group_write = readers[0]
        writes = [
            translations.Stage(
                f"{flatten.unique_name}/Group/{local_in}",
                [beam_runner_api_pb2.PTransform(
                    unique_name=f"{flatten.unique_name}/Group/{local_in}",
                    inputs={local_in: pcoll},
                    spec=beam_runner_api_pb2.FunctionSpec(urn=bundle_processor.DATA_OUTPUT_URN, payload=buffer_id),
                    environment_id=flatten.environment_id)],
                downstream_side_inputs=frozenset(),
                must_follow=stage.must_follow | group_write.must_follow)
            for local_in, pcoll in flatten.inputs.items()]
        replaced[stage] = replaced[group_write] = writes
        # the grouping buffer decodes with the data-channel coder of the GroupByKey's input (the Flatten's
        # output, now written by no stage); each input has that coder (fix_flatten_coders above)
        context.add_data_channel_coder(output)
    result = []
    for stage in stages:
        if stage in replaced:
            if stage.transforms[0].spec.urn == FLATTEN_URN:
                result.extend(replaced[stage])
            continue
        if any(before in replaced for before in stage.must_follow):
            stage.must_follow = frozenset(
                s for before in stage.must_follow for s in replaced.get(before, (before,)))
        result.append(stage)
    return result


PHASES_BEFORE = (   # FnApiRunner.create_stages' phases on Beam 2.77.0, up to where flatten_into_groups runs
    translations.annotate_downstream_side_inputs,
    translations.fix_side_input_pcoll_coders,
    translations.pack_combiners,
    translations.lift_combiners,
    translations.expand_sdf,
    translations.expand_gbk,
)
PHASES_AFTER = (
    translations.sink_flattens,
    translations.greedily_fuse,
    translations.read_to_impulse,
    translations.impulse_to_input,
    translations.sort_stages,
    translations.add_impulse_to_dangling_transforms,
    translations.setup_timer_mapping,
    translations.populate_data_channel_coders,
)


class LocalRunner(FnApiRunner):
    """FnApiRunner (in_memory or multi_processing, as its options say) with `flatten_into_groups`."""

    def create_stages(self, pipeline_proto: beam_runner_api_pb2.Pipeline
                      ) -> tuple[translations.TransformContext, list[translations.Stage]]:
        return translations.create_and_optimize_stages(
            copy.deepcopy(pipeline_proto),
            phases=[*PHASES_BEFORE, flatten_into_groups, *PHASES_AFTER],
            known_runner_urns=frozenset([FLATTEN_URN, common_urns.primitives.GROUP_BY_KEY.urn]),
            use_state_iterables=self._use_state_iterables,
            is_drain=self._is_drain)
