import gzip
import json

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.beam_testing import fn_api_test_pipeline
from transforms.decontam import (
    DecontamConfig,
    Decontaminate,
    EvalSetError,
    decontaminate,
    find_matches,
    fold,
    load_eval_ngrams,
    tokens,
)
from transforms.document import Document

# 21 words: a document sharing 13 consecutive words of it is contaminated, 12 are not.
PROMPT = ("Natalia sold clips to forty eight of her friends in April and then she sold half as many clips "
          "in May")
PROMPT_WORDS = PROMPT.split()
# 39 Chinese characters and 2 punctuation marks (none in the first 20), read in 20-character n-grams.
ZH_PROMPT = "小明有五个苹果他给了小红两个苹果又从商店买了三个苹果，请问小明现在一共有几个苹果？"
CODE = ('def add(a, b):\n    """Return the sum of two integers a and b without using the plus operator '
        'at all."""\n')
FILLER = "The weather report for the coast says rain in the morning and sun in the afternoon."


def _write(path, records, compress=False):
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    if compress:
        data = gzip.compress(data)
    path.write_bytes(data)
    return str(path)


@pytest.fixture
def eval_sets(tmp_path):
    return {
        "gsm8k": (_write(tmp_path / "gsm8k.jsonl", [{"question": PROMPT, "answer": "72"},
                                                    {"question": ZH_PROMPT}]),),
        "humaneval": (_write(tmp_path / "humaneval.jsonl.gz", [{"prompt": CODE, "task_id": "HumanEval/0"}],
                             compress=True),),
    }


@pytest.fixture
def index(eval_sets):
    return load_eval_ngrams(DecontamConfig(eval_sets=eval_sets))


def _words(start, stop):
    return " ".join(PROMPT_WORDS[start:stop])


# ---------------------------------------------------------------- normalization

def test_fold_keeps_length_and_offsets():
    assert fold("Hello, WORLD!\tＡＢＣ—x") == "hello  world  abc x"
    assert tokens("Ｈｅｌｌｏ, World! 你好ABC def 48") == ["hello", "world", "你", "好", "abc", "def", "48"]


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_fold_is_length_preserving(text):
    assert len(fold(text)) == len(text)
    ascii_part = text.encode("ascii", "ignore").decode("ascii")
    assert fold(ascii_part + "é")[:-1] == fold(ascii_part)   # the ASCII and the Unicode paths agree


# ---------------------------------------------------------------- matching

def test_thirteen_shared_words_drop_with_the_benchmark(index):
    doc = f"{FILLER} Yesterday {_words(2, 15)} was the story. {FILLER}"
    decision = decontaminate(doc, index, "drop")
    assert decision.reason == "contaminated:gsm8k"
    assert dict(decision.counts) == {"gsm8k": 1}
    assert decision.text == doc
    assert decision.scores("drop") == {"decontam:gsm8k": 1.0}


def test_twelve_shared_words_are_clean(index):
    doc = f"{FILLER} Yesterday {_words(2, 14)} was the story. {FILLER}"
    decision = decontaminate(doc, index, "drop")
    assert decision.reason is None and not decision.counts
    assert decision.scores("drop") == {}


def test_case_punctuation_and_whitespace_do_not_matter(index):
    doc = ("NATALIA sold clips, to FORTY-EIGHT of her friends...\n\nin April; and then\tshe sold "
           "half as many — clips in May?!")
    matches = find_matches(doc, index)
    assert len(matches) == 9     # 21 words: 9 thirteen-word n-grams
    assert (matches[0].start, matches[-1].end) == (0, len(doc) - 2)
    assert {m.benchmarks for m in matches} == {("gsm8k",)}


@pytest.fixture(scope="module")
def prompt_index(tmp_path_factory):
    path = _write(tmp_path_factory.mktemp("eval") / "gsm8k.jsonl", [{"question": PROMPT}])
    return load_eval_ngrams(DecontamConfig(eval_sets={"gsm8k": (path,)}))


_SEPARATORS = st.text(alphabet=" \t\n,.;:!?\"'()-—…，。\u00a0\u3000", min_size=1, max_size=4).filter(
    lambda sep: not sep.isalnum())


@settings(max_examples=60, deadline=None)
@given(start=st.integers(0, 8), size=st.integers(10, 21), data=st.data())
def test_any_casing_and_separators_give_one_match_per_shared_ngram(prompt_index, start, size, data):
    words = PROMPT_WORDS[start:start + size]
    cased = [data.draw(st.sampled_from([w, w.upper(), w.lower(), w.title()])) for w in words]
    seps = [data.draw(_SEPARATORS) for _ in cased]
    doc = "Before: " + "".join(w + sep for w, sep in zip(cased, seps, strict=True)) + "after."
    matches = find_matches(doc, prompt_index)
    assert len(matches) == max(0, len(words) - 12)
    for k, m in enumerate(matches):  # each span is exactly its 13 words
        assert tokens(doc[m.start:m.end]) == [w.lower() for w in words[k:k + 13]]


def test_lone_surrogates_and_control_characters_do_not_break_matching(prompt_index):
    doc = "\ud800 \x00" + PROMPT + "\x1f\ufeff"
    assert len(find_matches(doc, prompt_index)) == 9


def test_digits_are_not_folded(tmp_path):
    path = _write(tmp_path / "e.jsonl", [{"question": "Tom has 48 apples and gives 12 of them to each of his three "
                                                       "friends today"}])
    index = load_eval_ngrams(DecontamConfig(eval_sets={"e": (path,)}))
    assert decontaminate("Tom has 48 apples and gives 12 of them to each of his three friends", index, "drop").reason
    assert not decontaminate("Tom has 84 apples and gives 12 of them to each of his three friends", index,
                             "drop").reason


def test_chinese_matches_on_twenty_character_ngrams(index):
    twenty = ZH_PROMPT[:20]
    doc = f"今天我们做一道数学题。{twenty}。答案很简单。"
    decision = decontaminate(doc, index, "drop")
    assert (decision.reason, dict(decision.counts)) == ("contaminated:gsm8k", {"gsm8k": 1})
    assert not decontaminate(f"今天我们做一道数学题。{ZH_PROMPT[:19]}。答案很简单。", index, "drop").counts
    # full-width and ASCII punctuation, spaces between characters: still the same n-grams
    spaced = " ".join(ZH_PROMPT[:10]) + "," + ZH_PROMPT[10:24]
    assert dict(decontaminate(spaced, index, "drop").counts) == {"gsm8k": 5}   # 24 characters


def test_english_question_inside_a_chinese_document(index):
    doc = f"这是一道英文数学题：{_words(0, 13)}。请用中文回答这个问题。"
    assert decontaminate(doc, index, "drop").reason == "contaminated:gsm8k"


def test_code_prompt_from_gzipped_jsonl(index):
    doc = ("# utils.py\nimport os\n\ndef add(a, b):\n    # Return the sum of two integers a and b without using "
           "the plus operator at all.\n    return a + b\n")
    decision = decontaminate(doc, index, "drop")
    assert decision.reason == "contaminated:humaneval"
    assert dict(decision.counts) == {"humaneval": 8}   # 20 tokens, def ... all: 8 13-grams


def test_short_eval_texts_are_one_ngram_down_to_the_minimum(tmp_path):
    path = _write(tmp_path / "q.jsonl", [{"question": "Which planet in the solar system has the most moons?"},
                                         {"question": "What is the capital of France?"},
                                         {"question": "答案是多少"}])
    index = load_eval_ngrams(DecontamConfig(eval_sets={"quiz": (path,)}))
    assert (index.texts, index.short_texts, index.lengths) == ({"quiz": 1}, {"quiz": 2}, (10,))
    assert decontaminate("Quiz: which planet in the solar system has the most moons? Saturn.", index,
                         "drop").counts == {"quiz": 1}
    assert not decontaminate("Which planet in the solar system has the most rings?", index, "drop").counts
    assert not decontaminate("What is the capital of France? Paris, of course.", index, "drop").counts


def test_list_fields_are_evaluation_texts(tmp_path):
    choice = "the mitochondria produce most of the chemical energy needed to power the cell"
    path = _write(tmp_path / "mc.jsonl", [{"question": "Pick one.", "choices": ["Paris", choice, 3]}])
    index = load_eval_ngrams(DecontamConfig(eval_sets={"mc": (path,)}))
    assert decontaminate(f"Biology notes: {choice}.", index, "drop").reason == "contaminated:mc"


# ---------------------------------------------------------------- benchmarks and scores

def test_multiple_benchmarks_scores_reason_and_detail(eval_sets, tmp_path):
    # "arc" shares the GSM8K prompt, so its n-grams count for both; humaneval only for itself
    eval_sets = {**eval_sets, "arc": (_write(tmp_path / "arc.jsonl", [{"question": PROMPT}]),)}
    index = load_eval_ngrams(DecontamConfig(eval_sets=eval_sets))
    assert dict(index.ngrams) == {"arc": 9, "gsm8k": 9 + 20, "humaneval": 8}
    doc = f"{_words(0, 14)}\n\n{CODE}"
    decision = decontaminate(doc, index, "drop")
    assert dict(decision.counts) == {"humaneval": 8, "arc": 2, "gsm8k": 2}
    assert decision.reason == "contaminated:humaneval"
    assert decision.detail == "humaneval=8,arc=2,gsm8k=2"
    assert decision.scores("drop") == {"decontam:humaneval": 8.0, "decontam:arc": 2.0, "decontam:gsm8k": 2.0}
    tie = decontaminate(_words(0, 13), index, "drop")
    assert (tie.reason, tie.detail) == ("contaminated:arc", "arc=1,gsm8k=1")   # ties: the first name


# ---------------------------------------------------------------- remove mode

def test_remove_mode_cuts_the_matched_span_exactly(index):
    doc = f'Intro line.\nHe said: "{_words(0, 17)}" and left.\nLast line.'
    decision = decontaminate(doc, index, "remove")
    assert decision.text == "Intro line.\nHe said:\nand left.\nLast line."
    assert decision.reason is None
    assert decision.removed_chars == len(doc) - len(decision.text) == 86
    assert decision.scores("remove") == {"decontam:gsm8k": 5.0, "decontam_removed_chars": 86.0}


def test_remove_mode_keeps_paragraph_breaks_and_chinese_punctuation(index):
    doc = f"First paragraph.\n\n{PROMPT}.\n\nLast paragraph."
    assert decontaminate(doc, index, "remove").text == "First paragraph.\n\nLast paragraph."
    zh = f"前言。{ZH_PROMPT}结束。"
    assert decontaminate(zh, index, "remove").text == "前言。\n结束。"


def test_remove_mode_keeps_the_indentation_of_the_next_line(index):
    doc = f"class Adder:\n    {CODE.replace(chr(10), chr(10) + '    ')}    return a + b\n"
    assert decontaminate(doc, index, "remove").text == "class Adder:\n        return a + b\n"


def test_remove_mode_drops_a_document_with_nothing_left(index):
    doc = f"  {PROMPT}!\n"
    decision = decontaminate(doc, index, "remove")
    assert (decision.reason, decision.text, decision.removed_chars) == ("contaminated:gsm8k", doc, len(doc))


def test_clean_document_is_untouched_in_remove_mode(index):
    decision = decontaminate(FILLER, index, "remove")
    assert (decision.text, decision.reason, decision.scores("remove")) == (FILLER, None,
                                                                          {"decontam_removed_chars": 0.0})


# ---------------------------------------------------------------- errors and config

def test_missing_eval_file_is_one_line_naming_benchmark_and_path(tmp_path):
    missing = str(tmp_path / "nope.jsonl")
    with pytest.raises(EvalSetError) as err:
        load_eval_ngrams(DecontamConfig(eval_sets={"mmlu": (missing,)}))
    message = str(err.value)
    assert message.startswith(f"decontam.eval_sets.mmlu: cannot read {missing}: ")
    assert "\n" not in message


def test_bad_json_line_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "fine"}\nnot json\n', encoding="utf-8")
    with pytest.raises(EvalSetError, match=rf"^decontam.eval_sets.b: {path}:2 is not JSON"):
        load_eval_ngrams(DecontamConfig(eval_sets={"b": (str(path),)}))


def test_benchmark_without_usable_text_is_an_error(tmp_path):
    path = _write(tmp_path / "e.jsonl", [{"question": "Too short."}, {"other": PROMPT}])
    with pytest.raises(EvalSetError, match=r"^decontam.eval_sets.e: no evaluation text of >= 8 words"):
        load_eval_ngrams(DecontamConfig(eval_sets={"e": (path,)}))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"mode": "cut"}, "decontam.mode must be one of drop, remove, got 'cut'"),
    ({"ngram": 0}, "decontam.ngram must be in 1..1000, got 0"),
    ({"char_ngram": 0}, "decontam.char_ngram must be in 1..1000, got 0"),
    ({"min_eval_tokens": 14}, "decontam.min_eval_tokens must be in 1..ngram (13), got 14"),
    ({"min_eval_chars": 0}, "decontam.min_eval_chars must be in 1..char_ngram (20), got 0"),
    ({"fields": ()}, "decontam.fields must name at least one field"),
    ({"eval_sets": {"gsm 8k": ("a.jsonl",)}}, "decontam.eval_sets: benchmark name 'gsm 8k' must be"),
    ({"eval_sets": {"gsm8k": ()}}, "decontam.eval_sets.gsm8k must be a non-empty list of paths"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError) as err:
        DecontamConfig(**kwargs)
    assert str(err.value).startswith(message)


def test_default_config_is_valid_and_empty_sets_match_nothing():
    cfg = DecontamConfig()
    assert (cfg.ngram, cfg.char_ngram, cfg.mode, cfg.enabled) == (13, 20, "drop", True)
    assert find_matches(PROMPT, load_eval_ngrams(cfg)) == []


# ---------------------------------------------------------------- the PTransform

def _summary(doc):
    return doc.id, doc.decision, doc.text, dict(doc.scores), doc.meta.get("drop_detail")


def test_transform_drop_and_remove(eval_sets):
    docs = [Document(id="w/clean", source="web", text=FILLER, scores={"n_words": 16.0}),
            Document(id="w/gsm", source="web", text=f"{FILLER} {_words(0, 14)}."),
            Document(id="c/code", source="code", text=CODE)]
    with fn_api_test_pipeline() as p:
        created = p | beam.Create(docs)
        out = created | "Drop" >> Decontaminate(DecontamConfig(eval_sets=eval_sets))
        assert_that(out.kept | "KeptIds" >> beam.Map(_summary),
                    equal_to([("w/clean", "keep", FILLER, {"n_words": 16.0}, None)]), label="kept")
        assert_that(out[Decontaminate.REJECTED] | "RejectedIds" >> beam.Map(_summary),
                    equal_to([("w/gsm", "decontam:contaminated:gsm8k", docs[1].text, {"decontam:gsm8k": 2.0},
                               "gsm8k=2"),
                              ("c/code", "decontam:contaminated:humaneval", CODE, {"decontam:humaneval": 8.0},
                               "humaneval=8")]), label="rejected")
        removed = created | "Remove" >> Decontaminate(DecontamConfig(eval_sets=eval_sets, mode="remove"))
        assert_that(removed.kept | "RemovedKept" >> beam.Map(lambda d: (d.id, d.text)),
                    equal_to([("w/clean", FILLER), ("w/gsm", FILLER)]), label="remove_kept")
        assert_that(removed[Decontaminate.REJECTED] | "RemovedRejected" >> beam.Map(lambda d: (d.id, d.decision)),
                    equal_to([("c/code", "decontam:contaminated:humaneval")]), label="remove_rejected")
