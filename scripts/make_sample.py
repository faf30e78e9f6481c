#!/usr/bin/env python3
"""Build the embedded sample corpus in data/sample/ from the text pools in data/sample/originals/.

    python scripts/make_sample.py              # regenerate data/sample/ (run from anywhere)
    python scripts/make_sample.py --out DIR    # write the generated files to DIR instead

Writes web_en.jsonl.gz, web_zh.jsonl.gz, encyclopedia.jsonl.gz, books.jsonl.gz, code.jsonl.gz, planted.json
(the ground truth) and the counts table between the markers in data/sample/README.md, plus
quality_train.jsonl.gz: labelled examples for the sample's quality classifier (`label` hq: web pages
composed like the originals; lq: spam and boilerplate pages), drawn with their own seeds, so they are
new documents, not records of the corpus.

Documents are composed from pools of original sentences, templates and code snippets (see the headers of
the pool files). Every original is checked to be a "good" document, and originals of one source are kept
distinct: the word 5-gram Jaccard similarity (character 5-grams for Chinese) of every pair is below 0.2.
Then variants are planted and recorded in planted.json: exact duplicates (byte-identical, or differing
only by NFD vs NFC or by CRLF line ends and trailing spaces), near duplicates (1-3 small edits, Jaccard
>= 0.8 with the original), junk (short, spam, boilerplate, other_lang) and broken lines (invalid JSON,
not an object, missing or mistyped fields), plus blank lines. Record order is shuffled; ids are assigned
so that an original always has a smaller id than its copies (the exact-dedup survivor is the smallest id).

Deterministic: every random choice comes from a random.Random seeded with a fixed string, iteration is
in list or sorted order, there is no wall clock, and gzip headers have mtime=0 and no file name. Two runs
give byte-identical files (with the same zlib). Standard library only.

The self-checks run before anything is written; if one fails the script prints why, writes nothing and
exits with status 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gzip
import io
import json
import random
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

SEED = "make_sample/v1"
ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "data" / "sample"
POOL_DIR = SAMPLE_DIR / "originals"
README = SAMPLE_DIR / "README.md"
SOURCES = ("web_en", "web_zh", "encyclopedia", "books", "code")

# ---------------------------------------------------------------- sizes

N_WEB_EN = 220
N_WEB_ZH = 175
ENCY_EN_PER_CATEGORY = 10  # 10 categories
ENCY_ZH_PER_CATEGORY = (6, 6, 6, 6, 6, 5, 5)  # 7 categories
BOOKS_EN_CHAPTERS = (5, 5, 5, 5, 5, 5, 4)  # chapters per book
BOOKS_ZH_CHAPTERS = (3, 3, 3, 3, 2, 2)
CODE_FILES_PER_LANG = 20

# Planted variants per source.
EXACT_PLAIN = {"web_en": 12, "web_zh": 9, "encyclopedia": 8, "books": 4, "code": 7}
EXACT_NORMALIZED = {  # copies that are identical only after Unicode/whitespace normalization
    "web_en": ("nfd", "nfd", "nfd", "crlf"),
    "web_zh": ("crlf", "crlf"),
    "encyclopedia": ("crlf", "crlf"),
    "books": ("nfd",),
    "code": ("nfd",),
}
# (originals that get one edited copy, originals that get two) per language group of each source.
NEAR_DUP = {
    "web_en": {"en": (10, 2)},
    "web_zh": {"zh": (10, 1)},
    "encyclopedia": {"en": (5, 1), "zh": (3, 0)},
    "books": {"en": (2, 1), "zh": (2, 0)},
    "code": {"code": (6, 0)},
}
JUNK = {
    "web_en": {"short": 9, "spam": 14, "boilerplate": 12, "other_lang": 25},
    "web_zh": {"short": 8, "spam": 11, "boilerplate": 8},
    "encyclopedia": {"short": 5, "other_lang": 15},
    "books": {"short": 3},
    "code": {},
}
BROKEN = {
    "web_en": ("truncated", "text_null", "missing_text", "array"),
    "web_zh": ("bare_word", "text_number", "id_object"),
    "encyclopedia": ("trailing_comma", "text_list", "missing_text"),
    "books": ("json_string", "text_null"),
    "code": ("truncated", "id_object", "text_number"),
}
BROKEN_REASON = {  # the reason the pipeline's reader gives (transforms/read.py)
    "truncated": "invalid_json",
    "bare_word": "invalid_json",
    "trailing_comma": "invalid_json",
    "array": "not_object",
    "json_string": "not_object",
    "missing_text": "missing_text",
    "text_null": "bad_type:text",
    "text_number": "bad_type:text",
    "text_list": "bad_type:text",
    "id_object": "bad_type:id",
}
BROKEN_WITH_ID = ("missing_text", "text_null", "text_number", "text_list")
BLANK_LINES = {"web_en": 2}

# ---------------------------------------------------------------- limits

ORIGINAL_MAX_JACCARD = 0.2  # any two originals of one source
GENERATION_MAX_JACCARD = 0.16  # target while composing, leaving a margin below the limit
NEAR_DUP_MIN_JACCARD = 0.8
MIN_TOTAL_RECORDS = 800
MAX_SAMPLE_BYTES = 2_400_000  # the brief allows 2.5 MB on disk; keep room for block rounding
TRIES = 400

# ---------------------------------------------------------------- small vocabularies

EN_HOSTS = (
    "www.example.com",
    "blog.example.org",
    "news.example.net",
    "home.example.com",
    "notes.example.org",
    "community.example.net",
    "www.example.org",
    "journal.example.com",
    "weekend.example.net",
    "local.example.org",
    "guides.example.com",
)
ZH_HOSTS = (
    "zh.example.com",
    "cn.example.org",
    "life.example.net",
    "bbs.example.com",
    "news.example.org",
    "blog.example.net",
    "home.example.org",
)
MIRROR_HOSTS = ("mirror.example.net", "amp.example.com", "cache.example.org", "reader.example.net")
PROJECTS = (
    "tidepool",
    "larkspur",
    "quarry",
    "fieldnotes",
    "harbour",
    "orchard",
    "ledger",
    "kettle",
    "lantern",
    "waypoint",
    "compass",
    "bramble",
    "millpond",
    "saltbox",
    "foxglove",
    "tinder",
    "heron",
    "juniper",
    "marlin",
    "pebble",
)
COMPONENTS = (
    "report builder",
    "import job",
    "command-line tool",
    "web service",
    "batch scripts",
    "test fixtures",
    "data loader",
    "admin dashboard",
    "sync worker",
)
TOPIC_PHRASES = {
    "text": "Text helpers",
    "collections": "Collection helpers",
    "math": "Numeric helpers",
    "io": "File and stream helpers",
    "parsing": "Parsing and formatting helpers",
    "misc": "Small utilities",
    "timing": "Timing helpers",
    "arrays": "Array helpers",
    "objects": "Object helpers",
    "web": "Formatting helpers",
    "files": "File helpers",
    "slices": "Slice helpers",
    "concurrency": "Concurrency helpers",
    "strings": "String functions",
    "containers": "Small containers",
    "algorithms": "Classic algorithms",
}
GO_PACKAGES = {"text": "textkit", "slices": "slicex", "io": "fileio", "concurrency": "workers", "math": "mathx"}
LANG_HINTS = {"python": "python", "javascript": "js", "golang": "go", "clang": "c", "rust": "rust"}
CODE_POOLS = {
    "python": "python.py",
    "javascript": "javascript.js",
    "golang": "golang.go",
    "clang": "clang.c",
    "rust": "rust.rs",
}

EN_CASTS = (  # hero, he, his, him, friend, elder, dog, town, river, boat, inn
    ("Maren", "she", "her", "her", "Jonah", "Aunt Maud", "Biscuit", "Wendlow", "Wendle", "Curlew", "Swan"),
    (
        "Tobias",
        "he",
        "his",
        "him",
        "Effie",
        "Grandmother Sorrel",
        "Moss",
        "Harrowmere",
        "Oster",
        "Little Meg",
        "Green Man",
    ),
    ("Zoë", "she", "her", "her", "Sam", "Grandfather Ives", "Pepper", "Kestlow", "Caddow", "Dabchick", "Three Tuns"),
    ("Noël", "he", "his", "him", "Lottie", "Granny Wren", "Juniper", "Fennick", "Mirrow", "Patience", "Anchor"),
    ("Hattie", "she", "her", "her", "Arlo", "Uncle Abel", "Skip", "Aldwater", "Venn", "Good Hope", "Plough"),
    ("Ewan", "he", "his", "him", "Nell", "Great-aunt Hilda", "Bramble", "Lowmire", "Harl", "Marigold", "Bell"),
    ("Rosa", "she", "her", "her", "Finn", "Grandpa Joss", "Tansy", "Marrowick", "Sable", "Heron", "Ferry Inn"),
)
EN_CAST_FIELDS = ("hero", "he", "his", "him", "friend", "elder", "dog", "town", "river", "boat", "inn")
EN_BOOK_TITLES = (
    "Letters from {town}",
    "The Boatbuilder of {town}",
    "A Year in {town}",
    "High Water at {town}",
    "The {river} Almanac",
    "Winter Lights over {town}",
    "Under {town} Bridge",
)
ZH_CASTS = (  # hero, ta, friend, elder, dog, town, river
    ("林小满", "她", "阿杰", "外婆", "大黄", "白溪镇", "白溪"),
    ("周阿禾", "他", "小芸", "爷爷", "阿福", "青岚镇", "青溪"),
    ("陈小雨", "她", "石头", "奶奶", "小黑", "落雁镇", "燕水"),
    ("许春生", "他", "秀秀", "外公", "豆豆", "桃坞镇", "桃花江"),
    ("沈青青", "她", "胖墩", "老姑婆", "旺财", "柳湾镇", "柳河"),
    ("顾小北", "他", "阿月", "姥姥", "花花", "梅岭镇", "梅溪"),
)
ZH_CAST_FIELDS = ("hero", "ta", "friend", "elder", "dog", "town", "river")
ZH_BOOK_TITLES = ("{town}纪事", "{river}边的日子", "{town}的四季", "{hero}的小镇", "流过{town}的{river}", "{town}旧事")
EN_NUMBER_WORDS = ("One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten")
ZH_NUMBER_WORDS = ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十")

EN_SYNONYMS = {
    "often": "frequently",
    "usually": "normally",
    "quickly": "rapidly",
    "very": "really",
    "almost": "nearly",
    "nearly": "almost",
    "perhaps": "maybe",
    "large": "big",
    "big": "large",
    "difficult": "hard",
    "finally": "eventually",
    "whole": "entire",
    "entire": "whole",
    "simply": "just",
    "useful": "helpful",
    "helpful": "useful",
    "quiet": "calm",
    "calm": "quiet",
    "buy": "purchase",
    "repair": "fix",
    "shop": "store",
    "begin": "start",
    "small": "little",
    "surprising": "remarkable",
    "friendly": "welcoming",
    "cheap": "inexpensive",
    "old": "former",
}
APPENDIX = {  # sentences a near-duplicate may gain, by (source, language)
    ("web_en", "en"): (
        "Thanks for reading.",
        "Updated with a reader's suggestion.",
        "Comments are welcome below.",
        "Edited for clarity.",
        "More photos will follow soon.",
        "This page was revised last week.",
    ),
    ("encyclopedia", "en"): (
        "This article needs additional citations.",
        "See also the list of local museums.",
        "The article was last revised in the spring.",
    ),
    ("books", "en"): (
        "Nobody said anything for a while.",
        "The rest of the day passed quietly.",
        "Outside, the wind had dropped.",
    ),
    ("web_zh", "zh"): (
        "欢迎在评论区留言交流。",
        "本文有删改。",
        "以上仅代表个人看法。",
        "图片来自网络。",
        "转载请注明出处。",
        "感谢阅读。",
    ),
    ("encyclopedia", "zh"): ("本条目内容仅供参考。", "参见当地的风物志。", "本条目有待补充。"),
    ("books", "zh"): ("那天剩下的时间过得很平静。", "谁也没有再说什么。", "窗外的风渐渐停了。"),
}
ZH_SYNONYMS = {
    "非常": "十分",
    "十分": "非常",
    "但是": "不过",
    "不过": "但是",
    "马上": "立刻",
    "立刻": "马上",
    "常常": "经常",
    "经常": "常常",
    "因为": "由于",
    "特别": "格外",
    "格外": "特别",
    "慢慢": "渐渐",
    "渐渐": "慢慢",
    "许多": "很多",
    "很多": "许多",
    "如今": "现在",
    "现在": "如今",
    "觉得": "感觉",
}
ZH_TYPOS = {"的": "得", "在": "再", "再": "在", "做": "作", "那": "哪", "候": "侯", "已": "以"}
CODE_TODOS = (
    "TODO: add a test for the empty case.",
    "TODO: document the error cases.",
    "NOTE: keep in sync with the old implementation.",
    "TODO: benchmark on large inputs.",
)
BROKEN_TEXT = {
    "en": (
        "The council will meet on Thursday to discuss the new cycle lanes along the river.",
        "Our volunteers planted two hundred trees beside the school playing field this spring.",
        "The ferry timetable changes on the first Monday of October.",
    ),
    "zh": ("社区将于本周六上午在活动室举办旧物交换会。", "图书馆周一闭馆，其余时间正常开放。"),
    "code": ("def add(a, b):\n    return a + b\n", "func Add(a, b int) int {\n\treturn a + b\n}\n"),
}
EN_STOP_WORDS = frozenset(("the", "be", "to", "of", "and", "that", "have", "with", "a", "in", "is", "it"))

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_SLOT = re.compile(r"\{(\w+)(?::(\d+)-(\d+))?\}")
_SPIN = re.compile(r"\{([^{}]*\|[^{}]*)\}")
_SNIPPET = re.compile(r"^(?:#|//) ==== snippet: (\S+) \| topic: (\S+)\s*$")


# ---------------------------------------------------------------- similarity (the brief's definition)


def is_chinese(text: str) -> bool:
    """Han characters are more than 30% of the non-space characters."""
    chars = [ch for ch in text if not ch.isspace()]
    return bool(chars) and sum(1 for ch in chars if _HAN.match(ch)) > 0.3 * len(chars)


def spaced_words(text: str) -> list[str]:
    """Lowercase; characters that are neither alphanumeric nor whitespace -> space; digits -> '0'."""
    out = []
    for ch in text.lower():
        if ch.isspace():
            out.append(ch)
        elif ch.isdigit():
            out.append("0")
        elif ch.isalnum():
            out.append(ch)
        else:
            out.append(" ")
    return "".join(out).split()


def word_shingles(text: str) -> frozenset:
    words = spaced_words(text)
    if len(words) < 5:
        return frozenset([tuple(words)])
    return frozenset(tuple(words[i : i + 5]) for i in range(len(words) - 4))


def han_shingles(text: str, fold_digits: bool) -> frozenset:
    """Character 5-grams after removing whitespace, punctuation and symbols."""
    kept = "".join(ch for ch in text if not ch.isspace() and unicodedata.category(ch)[0] not in "PS")
    if fold_digits:  # the brief does not say whether Chinese digits are folded: check both ways
        kept = "".join("0" if ch.isdigit() else ch for ch in kept.lower())
    if len(kept) < 5:
        return frozenset([kept])
    return frozenset(kept[i : i + 5] for i in range(len(kept) - 4))


def shingle_variants(text: str) -> tuple[frozenset, ...]:
    if is_chinese(text):
        return (han_shingles(text, False), han_shingles(text, True))
    return (word_shingles(text),)


def jaccard(a: frozenset, b: frozenset) -> float:
    inter = len(a & b)
    union = len(a) + len(b) - inter
    return inter / union if union else 1.0


def jaccard_range(a: tuple[frozenset, ...], b: tuple[frozenset, ...]) -> tuple[float, float]:
    """(min, max) Jaccard over the shingle variants; 0 when the texts are of different kinds."""
    if len(a) != len(b):
        return 0.0, 0.0
    values = [jaccard(x, y) for x, y in zip(a, b, strict=True)]
    return min(values), max(values)


def normalize_text(text: str) -> str:
    """The pipeline's NormalizeText steps (transforms/normalize.py), re-implemented with the stdlib."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch != "\ufeff" and not (unicodedata.category(ch) == "Cc" and ch not in "\n\t"))
    text = "".join(" " if unicodedata.category(ch) == "Zs" and ch not in (" ", "\u3000") else ch for ch in text)
    text = re.sub(r"[ \t]+$", "", text, flags=re.MULTILINE)
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
    return unicodedata.normalize("NFC", text)


def han_count(text: str) -> int:
    return sum(1 for ch in text if _HAN.match(ch))


# ---------------------------------------------------------------- pools


@dataclasses.dataclass
class Section:
    kind: str
    name: str
    options: dict[str, str]
    lines: list[str]


def read_pool(name: str) -> list[Section]:
    """Sections of a text pool: "## kind: name | key: value" headers, one item per line."""
    sections: list[Section] = []
    for number, raw in enumerate((POOL_DIR / name).read_text(encoding="utf-8").splitlines(), start=1):
        line = unicodedata.normalize("NFC", raw.rstrip())
        if line.startswith("## "):
            kind, _, rest = line[3:].partition(":")
            parts = [part.strip() for part in rest.split(" | ")]
            options = {}
            for part in parts[1:]:
                key, _, value = part.partition(":")
                options[key.strip()] = value.strip()
            sections.append(Section(kind.strip(), parts[0], options, []))
        elif not line or line == "#" or line.startswith("# "):
            continue
        elif not sections:
            raise ValueError(f"{name}:{number}: text before the first section header")
        else:
            sections[-1].lines.append(line)
    return sections


def section(sections: list[Section], kind: str, name: str) -> list[str]:
    for sec in sections:
        if sec.kind == kind and sec.name == name:
            return sec.lines
    raise KeyError(f"no section {kind}: {name}")


@dataclasses.dataclass(frozen=True)
class Snippet:
    name: str
    topic: str
    imports: tuple[str, ...]
    body: str


_IMPORT_LINE = {
    "python": re.compile(r"^(?:import \S|from \S+ import )"),
    "javascript": re.compile(r"^const \w+ = require\("),
    "golang": re.compile(r'^import "'),
    "clang": re.compile(r"^#include "),
    "rust": re.compile(r"^use "),
}


def read_snippets(lang: str) -> list[Snippet]:
    """Snippets of one language pool; import lines at the top of a snippet are split off."""
    snippets: list[Snippet] = []
    current: tuple[str, str] | None = None
    lines: list[str] = []

    def flush() -> None:
        if current is None:
            return
        imports: list[str] = []
        body = list(lines)
        while body and (not body[0].strip() or _IMPORT_LINE[lang].match(body[0])):
            if body[0].strip():
                imports.append(body[0].strip())
            body.pop(0)
        while body and not body[-1].strip():
            body.pop()
        snippets.append(Snippet(current[0], current[1], tuple(imports), "\n".join(body)))

    text = (POOL_DIR / "code" / CODE_POOLS[lang]).read_text(encoding="utf-8")
    for raw in text.splitlines():
        match = _SNIPPET.match(raw)
        if match:
            flush()
            current, lines = (match.group(1), match.group(2)), []
        elif current is not None:
            lines.append(unicodedata.normalize("NFC", raw.rstrip()))
    flush()
    return snippets


# ---------------------------------------------------------------- templates


class Filler:
    """Fills the templates of one document: "{a|b}" picks an alternative, "{slot}" a value that stays
    fixed within the document, "{key:lo-hi}" a whole number; subject fields take precedence."""

    def __init__(
        self,
        rng: random.Random,
        lists: dict[str, list[str]] | None = None,
        fields: dict[str, str] | None = None,
        thousands: bool = False,
    ) -> None:
        self.rng = rng
        self.lists = lists or {}
        self.fields = fields or {}
        self.thousands = thousands
        self.values: dict[str, str] = {}
        self._taken: dict[str, set[str]] = {}
        self._exclude = {value.lower() for value in self.fields.values()}

    def __call__(self, template: str) -> str:
        text = _SLOT.sub(self._slot, template)
        text = _SPIN.sub(lambda m: self.rng.choice(m.group(1).split("|")), text)
        if "{" in text or "}" in text:
            raise ValueError(f"unresolved template: {template!r}")
        return text

    def _field(self, name: str) -> str | None:
        if name in self.fields:
            return self.fields[name]
        lower_first = name[:1].lower() + name[1:]
        if lower_first != name and lower_first in self.fields:
            value = self.fields[lower_first]
            return value[:1].upper() + value[1:]
        upper_first = name[:1].upper() + name[1:]
        if upper_first != name and upper_first in self.fields:
            value = self.fields[upper_first]
            return value[:1].lower() + value[1:]
        return None

    def _slot(self, match: re.Match) -> str:
        name, low, high = match.group(1), match.group(2), match.group(3)
        if name in self.values:
            return self.values[name]
        if low is not None:
            number = self.rng.randint(int(low), int(high))
            value = f"{number:,}" if self.thousands and number >= 10000 else str(number)
        else:
            field = self._field(name)
            if field is not None:
                return field
            base = name.rstrip("0123456789")
            if base not in self.lists:
                raise KeyError(f"no values for slot {{{name}}}")
            taken = self._taken.setdefault(base, set())
            choices = [v for v in self.lists[base] if v not in taken and v.lower() not in self._exclude]
            value = self.rng.choice(choices)
            taken.add(value)
        self.values[name] = value
        return value


def pick_balanced(rng: random.Random, uses: list[int], k: int) -> list[int]:
    """k distinct indices, favouring items used least so far (weighted sampling without replacement)."""
    scored = sorted(((rng.random() ** ((1 + u) ** 2), i) for i, u in enumerate(uses)), reverse=True)
    return sorted(i for _, i in scored[:k])


def split_paragraphs(rng: random.Random, sentences: list[str], low: int, high: int) -> list[list[str]]:
    """Cut a list of sentences into low..high paragraphs of at least two sentences each."""
    n = len(sentences)
    count = rng.randint(low, max(low, min(high, n // 2)))
    if count <= 1:
        return [sentences]
    for _ in range(50):
        cuts = sorted(rng.sample(range(2, n - 1), count - 1)) if n > 3 else [n // 2]
        bounds = [0, *cuts, n]
        if all(b - a >= 2 for a, b in zip(bounds, bounds[1:], strict=False)):
            return [sentences[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    size = n // count
    bounds = [i * size for i in range(count)] + [n]
    return [sentences[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def slugify(text: str, max_words: int = 7) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return "-".join(words[:max_words])


def random_date(rng: random.Random, start: str = "2019-01-01", end: str = "2024-06-30") -> str:
    first = datetime.date.fromisoformat(start).toordinal()
    last = datetime.date.fromisoformat(end).toordinal()
    return datetime.date.fromordinal(rng.randint(first, last)).isoformat()


def later_date(rng: random.Random, date: str) -> str:
    day = datetime.date.fromisoformat(date) + datetime.timedelta(days=rng.randint(1, 120))
    return day.isoformat()


# ---------------------------------------------------------------- documents


@dataclasses.dataclass
class Doc:
    """One line of an output file before ids are assigned."""

    source: str
    role: str  # original | exact_dup | near_dup | junk | broken
    lang: str  # en | zh | code | fr | de | es | ru | ja
    text: str | None
    fields: dict = dataclasses.field(default_factory=dict)
    kind: str = ""  # junk kind, exact-dup variant, near-dup edits or broken kind
    parent: Doc | None = None  # the original of a copy
    head: str | None = None  # title or heading line of prose documents
    paras: list[list[str]] | None = None
    joiner: str = " "
    shingles: tuple[frozenset, ...] = ()
    id: str | None = None
    line_no: int = 0  # 1-based line in the output file

    def sentences_text(self) -> str:
        return render(self.head, self.paras or [], self.joiner)


def render(head: str | None, paras: list[list[str]], joiner: str) -> str:
    blocks = [head] if head else []
    blocks += [joiner.join(p) for p in paras]
    return "\n\n".join(blocks)


def choose_distinct(
    existing: list[tuple[frozenset, ...]], make: Callable[[], tuple[Doc, list[int]] | None]
) -> tuple[Doc, list[int], float] | None:
    """Call `make` until its document is dissimilar enough from `existing`; else return the best try."""
    best: tuple[Doc, list[int], float] | None = None
    for _ in range(TRIES):
        made = make()
        if made is None:
            continue
        doc, picked = made
        doc.shingles = shingle_variants(doc.text or "")
        worst = max((jaccard_range(doc.shingles, other)[1] for other in existing), default=0.0)
        if worst < GENERATION_MAX_JACCARD:
            return doc, picked, worst
        if best is None or worst < best[2]:
            best = (doc, picked, worst)
    return best


def make_web(
    rng: random.Random, source: str, sections: list[Section], total: int, k_range: tuple[int, int]
) -> list[Doc]:
    """Web pages: 2-5 paragraphs of sentences from one topic."""
    english = source == "web_en"
    topics = [s for s in sections if s.kind == "topic"]
    hosts = EN_HOSTS if english else ZH_HOSTS
    docs: list[Doc] = []
    urls: set[str] = set()
    for t_index, topic in enumerate(topics):
        n_docs = total // len(topics) + (1 if t_index < total % len(topics) else 0)
        uses = [0] * len(topic.lines)
        existing: list[tuple[frozenset, ...]] = []
        for _ in range(n_docs):

            def make(topic: Section = topic, uses: list[int] = uses) -> tuple[Doc, list[int]] | None:
                picked = pick_balanced(rng, uses, rng.randint(*k_range))
                filler = Filler(rng)
                sentences = [filler(topic.lines[i]) for i in picked]
                paras = split_paragraphs(rng, sentences, 2, 5)
                doc = Doc(
                    source, "original", "en" if english else "zh", None, paras=paras, joiner=" " if english else ""
                )
                doc.text = doc.sentences_text()
                long_enough = len(doc.text.split()) >= 80 if english else han_count(doc.text) >= 120
                return (doc, picked) if long_enough else None

            chosen = choose_distinct(existing, make)
            if chosen is None or chosen[2] >= ORIGINAL_MAX_JACCARD:
                continue  # reported by the count check
            doc, picked, _ = chosen
            for i in picked:
                uses[i] += 1
            existing.append(doc.shingles)
            host = hosts[t_index % len(hosts)] if rng.random() < 0.7 else rng.choice(hosts)
            section_path = topic.name.replace("_", "-")
            date = random_date(rng)
            if english:
                slug = slugify(doc.paras[0][0]) if doc.paras else "post"
                url = f"https://{host}/{section_path}/{slug}"
                if rng.random() < 0.4:
                    url = f"https://{host}/{date[:4]}/{date[5:7]}/{slug}"
            else:
                day = date.replace("-", "")
                url = f"https://{host}/{section_path}/{day}/{rng.randint(10000, 99999)}.html"
            while url in urls:
                url += f"-{rng.randint(2, 9)}" if english else ""
                if not english:
                    url = f"https://{host}/{section_path}/{rng.randint(100000, 999999)}.html"
            urls.add(url)
            doc.fields = {"url": url, "date": date}
            docs.append(doc)
    return docs


def make_encyclopedia(
    rng: random.Random, sections: list[Section], per_category: Sequence[int], english: bool
) -> list[Doc]:
    """Articles about invented subjects: a title line, then 2-3 paragraphs."""
    lists = {s.name: s.lines for s in sections if s.kind == "slot"}
    categories = [s for s in sections if s.kind == "category"]
    if len(per_category) != len(categories):
        raise ValueError("per_category does not match the number of categories")
    docs: list[Doc] = []
    for category, n_docs in zip(categories, per_category, strict=True):
        subjects = [line[2:] for line in category.lines if line.startswith("@ ")]
        leads = [line[2:] for line in category.lines if line.startswith("= ")]
        body = [line for line in category.lines if not line.startswith(("@ ", "= "))]
        field_names = category.options["fields"].split()
        uses = [0] * len(body)
        existing: list[tuple[frozenset, ...]] = []
        for subject in rng.sample(subjects, n_docs):
            fields = dict(zip(field_names, [v.strip() for v in subject.split(" | ")], strict=True))

            def make(
                fields: dict[str, str] = fields,
                uses: list[int] = uses,
                leads: list[str] = leads,
                body: list[str] = body,
                category: Section = category,
            ) -> tuple[Doc, list[int]] | None:
                filler = Filler(rng, lists, fields, thousands=english)
                picked = pick_balanced(rng, uses, rng.randint(6, 9) if english else rng.randint(5, 8))
                sentences = [filler(rng.choice(leads))] + [filler(body[i]) for i in picked]
                title = filler(category.options["title"])
                paras = split_paragraphs(rng, sentences, 2, 3)
                doc = Doc(
                    "encyclopedia",
                    "original",
                    "en" if english else "zh",
                    None,
                    fields={"title": title},
                    head=title,
                    paras=paras,
                    joiner=" " if english else "",
                )
                doc.text = doc.sentences_text()
                long_enough = len(doc.text.split()) >= 80 if english else han_count(doc.text) >= 120
                return (doc, picked) if long_enough else None

            chosen = choose_distinct(existing, make)
            if chosen is None or chosen[2] >= ORIGINAL_MAX_JACCARD:
                continue
            doc, picked, _ = chosen
            for i in picked:
                uses[i] += 1
            existing.append(doc.shingles)
            docs.append(doc)
    return docs


def make_books(rng: random.Random, sections: list[Section], plan: Sequence[int], english: bool) -> list[Doc]:
    """Chapters: each book has its own cast; its chapters use disjoint scenes, in season order.

    Scenes are picked greedily so that a new chapter shares as few scenes as possible with any chapter
    written so far (those of other books use other casts, but the rest of the sentence is the same)."""
    scenes = [s for s in sections if s.kind == "scene"]
    casts = EN_CASTS if english else ZH_CASTS
    field_names = EN_CAST_FIELDS if english else ZH_CAST_FIELDS
    titles = EN_BOOK_TITLES if english else ZH_BOOK_TITLES
    written: list[set[int]] = []  # scene sets of accepted chapters
    existing: list[tuple[frozenset, ...]] = []
    docs: list[Doc] = []
    for book, n_chapters in enumerate(plan):
        cast = dict(zip(field_names, casts[book], strict=True))
        book_title = Filler(rng, fields=cast)(titles[book])
        used_in_book: set[int] = set()
        for number in range(n_chapters):

            def make(
                cast: dict[str, str] = cast,
                used_in_book: set[int] = used_in_book,
                number: int = number,
                book_title: str = book_title,
            ) -> tuple[Doc, list[int]] | None:
                size = rng.choice((7, 7, 8)) if english else 7
                picked: list[int] = []
                shared = [0] * len(written)
                free = [i for i in range(len(scenes)) if i not in used_in_book]
                if len(free) < size:
                    return None
                while len(picked) < size:

                    def cost(i: int) -> tuple[int, float]:
                        worst = max((shared[c] + (i in w) for c, w in enumerate(written)), default=0)
                        return worst, rng.random()

                    best = min((i for i in free if i not in picked), key=cost)
                    picked.append(best)
                    for c, w in enumerate(written):
                        shared[c] += best in w
                picked.sort()
                filler = Filler(rng, fields=cast)
                paras = [[filler(line) for line in scenes[i].lines] for i in picked]
                if english:
                    heading = f"Chapter {EN_NUMBER_WORDS[number]}"
                    title = f"{book_title} — {heading}"
                else:
                    heading = f"第{ZH_NUMBER_WORDS[number]}章"
                    title = f"{book_title} {heading}"
                doc = Doc(
                    "books",
                    "original",
                    "en" if english else "zh",
                    None,
                    fields={"title": title},
                    head=heading,
                    paras=paras,
                    joiner=" " if english else "",
                )
                doc.text = doc.sentences_text()
                return doc, picked

            chosen = choose_distinct(existing, make)
            if chosen is None or chosen[2] >= ORIGINAL_MAX_JACCARD:
                continue
            doc, picked, _ = chosen
            used_in_book.update(picked)
            written.append(set(picked))
            existing.append(doc.shingles)
            docs.append(doc)
    return docs


# ---------------------------------------------------------------- code files


def merge_imports(lang: str, lines: list[str]) -> list[str]:
    if lang == "python":
        plain: set[str] = set()
        froms: dict[str, set[str]] = {}
        for line in lines:
            match = re.match(r"from (\S+) import (.+)$", line)
            if match:
                froms.setdefault(match.group(1), set()).update(n.strip() for n in match.group(2).split(","))
            else:
                plain.add(line[len("import ") :].strip())
        future = (
            [f"from __future__ import {', '.join(sorted(froms.pop('__future__')))}"] if "__future__" in froms else []
        )
        return (
            future
            + [f"import {m}" for m in sorted(plain)]
            + [f"from {m} import {', '.join(sorted(names))}" for m, names in sorted(froms.items())]
        )
    if lang == "rust":
        merged: dict[str, set[str]] = {}
        for line in lines:
            path = line[len("use ") :].rstrip(";")
            if "::{" in path:
                base, names = path.split("::{", 1)
                merged.setdefault(base, set()).update(n.strip() for n in names.rstrip("}").split(","))
            else:
                base, name = path.rsplit("::", 1)
                merged.setdefault(base, set()).add(name)
        out = []
        for base, names in sorted(merged.items()):
            ordered = sorted(names, key=lambda n: (n != "self", n))
            out.append(
                f"use {base}::{ordered[0]};"
                if len(ordered) == 1 and ordered[0] != "self"
                else f"use {base}::{{{', '.join(ordered)}}};"
            )
        return out
    if lang == "javascript":
        return list(dict.fromkeys(lines))
    return sorted(set(lines))


def compose_code(lang: str, snippets: list[Snippet], topic: str, project: str, component: str, stem: str) -> str:
    """A source file made of snippets of one language, with a header and one import block."""
    phrase = TOPIC_PHRASES.get(topic, "Assorted helpers")
    doc_line = f"{phrase} used by the {project} {component}."
    imports = merge_imports(lang, [line for s in snippets for line in s.imports])
    bodies = [s.body for s in snippets]
    if lang == "python":
        head = f'"""{doc_line}"""\n'
        block = ("\n" + "\n".join(imports) + "\n") if imports else ""
        return head + block + "\n\n" + "\n\n\n".join(bodies) + "\n"
    if lang == "javascript":
        exports = [
            m.group(1)
            for body in bodies
            for m in re.finditer(r"^(?:async function|function|class) (\w+)", body, re.MULTILINE)
        ]
        head = f"'use strict';\n\n/**\n * {doc_line}\n */\n"
        block = ("\n" + "\n".join(imports) + "\n") if imports else ""
        tail = f"\nmodule.exports = {{ {', '.join(exports)} }};\n"
        return head + block + "\n" + "\n\n".join(bodies) + "\n" + tail
    if lang == "golang":
        package = GO_PACKAGES.get(topic, "helpers")
        what = phrase[0].lower() + phrase[1:]
        head = f"// Package {package} provides {what} for the {project} {component}.\n"
        head += f"package {package}\n"
        if len(imports) == 1:
            head += f"\n{imports[0]}\n"
        elif imports:
            head += "\nimport (\n" + "".join(f"\t{line[len('import ') :]}\n" for line in imports) + ")\n"
        return head + "\n" + "\n\n".join(bodies) + "\n"
    if lang == "clang":
        head = f"/* {stem}.c: {doc_line[0].lower() + doc_line[1:]} */\n"
        block = ("\n" + "\n".join(imports) + "\n") if imports else ""
        return head + block + "\n" + "\n\n".join(bodies) + "\n"
    head = f"//! {doc_line}\n"
    block = ("\n" + "\n".join(imports) + "\n") if imports else ""
    return head + block + "\n" + "\n\n".join(bodies) + "\n"


def camel_case(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def make_code(rng: random.Random, per_lang: int) -> list[Doc]:
    docs: list[Doc] = []
    paths: set[str] = set()
    for lang in sorted(CODE_POOLS):
        snippets = read_snippets(lang)
        uses = [0] * len(snippets)
        existing: list[tuple[frozenset, ...]] = []
        for _ in range(per_lang):

            def make(
                lang: str = lang, snippets: list[Snippet] = snippets, uses: list[int] = uses
            ) -> tuple[Doc, list[int]] | None:
                picked = pick_balanced(rng, uses, rng.choice((2, 3, 3, 4, 4, 5)))
                chosen = [snippets[i] for i in picked]
                primary = max(chosen, key=lambda s: (len(s.body), s.name))
                topics = Counter(s.topic for s in chosen)
                topic = max(topics, key=lambda t: (topics[t], t == primary.topic, t))
                project, component = rng.choice(PROJECTS), rng.choice(COMPONENTS)
                stem = primary.name
                path = {
                    "python": f"{project}/{topic}/{stem}.py",
                    "javascript": f"packages/{project}/src/{topic}/{camel_case(stem)}.js",
                    "golang": f"{project}/internal/{GO_PACKAGES.get(topic, 'helpers')}/{stem}.go",
                    "clang": f"{project}/src/{stem}.c",
                    "rust": f"{project}/src/{topic}/{stem}.rs",
                }[lang]
                if path in paths:
                    return None
                text = compose_code(lang, chosen, topic, project, component, stem)
                fields = {"path": path, "lang_hint": LANG_HINTS[lang]}
                doc = Doc("code", "original", "code", text, fields=fields)
                return doc, picked

            chosen = choose_distinct(existing, make)
            if chosen is None or chosen[2] >= ORIGINAL_MAX_JACCARD:
                continue
            doc, picked, _ = chosen
            for i in picked:
                uses[i] += 1
            existing.append(doc.shingles)
            paths.add(doc.fields["path"])
            docs.append(doc)
    return docs


# ---------------------------------------------------------------- planted copies


def crlf_variant(rng: random.Random, text: str) -> str:
    return "\r\n".join(line + rng.choice((" ", "  ", "\t", " \t", "   ")) for line in text.split("\n"))


def copy_fields(rng: random.Random, doc: Doc, near: bool) -> dict:
    fields = dict(doc.fields)
    if "url" in fields:
        host = rng.choice(MIRROR_HOSTS)
        path = fields["url"].split("/", 3)[3]
        fields["url"] = (
            f"https://{host}/{path}"
            if not near or rng.random() < 0.5
            else fields["url"] + rng.choice(("?utm_source=newsletter", "?ref=feed", "#comments"))
        )
        fields["date"] = later_date(rng, fields["date"]) if near or rng.random() < 0.5 else fields["date"]
    if "path" in fields:
        fields["path"] = (f"forks/{rng.choice(PROJECTS)}/" if near else "vendor/") + fields["path"]
    return fields


def replace_word(text: str, old: str, new: str, occurrence: int) -> str:
    """Replace the n-th whole-word occurrence of `old`, keeping its capitalisation."""
    matches = list(re.finditer(rf"\b{re.escape(old)}\b", text, flags=re.IGNORECASE))
    match = matches[occurrence]
    found = match.group(0)
    replacement = new[:1].upper() + new[1:] if found[:1].isupper() else new
    return text[: match.start()] + replacement + text[match.end() :]


def typo(rng: random.Random, word: str) -> str:
    i = rng.randint(1, len(word) - 3)
    if rng.random() < 0.5:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # swap two letters
    return word[:i] + word[i + 1 :]  # drop one letter


def edit_prose(rng: random.Random, doc: Doc) -> tuple[list[list[str]], list[str]]:
    """1-3 small edits to the paragraphs of a prose document."""
    english = doc.lang == "en"
    paras = [list(p) for p in doc.paras or []]
    ops = rng.sample(("typo", "synonym", "number", "append", "drop"), rng.randint(1, 3))
    done = []
    for op in ops:
        p = rng.randrange(len(paras))
        s = rng.randrange(len(paras[p]))
        sentence = paras[p][s]
        if op == "typo":
            if english:
                words = [m for m in re.finditer(r"\b[a-z]{6,}\b", sentence)]
                if not words:
                    continue
                m = rng.choice(words)
                paras[p][s] = sentence[: m.start()] + typo(rng, m.group(0)) + sentence[m.end() :]
            else:
                spots = [i for i, ch in enumerate(sentence) if ch in ZH_TYPOS]
                if not spots:
                    continue
                i = rng.choice(spots)
                paras[p][s] = sentence[:i] + ZH_TYPOS[sentence[i]] + sentence[i + 1 :]
        elif op == "synonym":
            table = EN_SYNONYMS if english else ZH_SYNONYMS
            found = [
                (w, i)
                for w in sorted(table)
                for i, _ in enumerate(
                    re.finditer(rf"\b{w}\b" if english else w, sentence, flags=re.IGNORECASE if english else 0)
                )
            ]
            if not found:
                continue
            word, occurrence = rng.choice(found)
            if english:
                paras[p][s] = replace_word(sentence, word, table[word], occurrence)
            else:
                paras[p][s] = sentence.replace(word, table[word], 1)
        elif op == "number":
            numbers = [
                (pi, si, m)
                for pi, para in enumerate(paras)
                for si, sent in enumerate(para)
                for m in re.finditer(r"\d+", sent)
            ]
            if not numbers:
                continue
            pi, si, m = rng.choice(numbers)
            value = int(m.group(0).replace(",", ""))
            new = str(value + rng.choice((1, 2, 3, 10)) if value < 1000 else value + rng.choice((1, 2, 5)))
            sent = paras[pi][si]
            paras[pi][si] = sent[: m.start()] + new + sent[m.end() :]
        elif op == "append":
            paras[-1].append(rng.choice(APPENDIX[doc.source, doc.lang]))
        elif op == "drop":
            candidates = [(pi, si) for pi, para in enumerate(paras) if len(para) >= 3 for si in range(1, len(para))]
            if not candidates:
                continue
            pi, si = rng.choice(candidates)
            del paras[pi][si]
        done.append(op)
    return paras, done


def edit_code(rng: random.Random, text: str, lang_hint: str) -> tuple[str, list[str]]:
    lines = text.split("\n")
    ops = rng.sample(("number", "todo", "comment_typo"), rng.randint(1, 2))
    done = []
    marker = "#" if lang_hint == "python" else "//"
    for op in ops:
        if op == "number":
            # Constants only: not 0 or 1, not an index or an offset, so the code keeps its meaning.
            spots = [
                (i, m)
                for i, line in enumerate(lines[1:], start=1)
                for m in re.finditer(r"(?<![\w.\[])(?<!- )\d+(?![\w.\]])", line)
                if int(m.group(0)) > 1
            ]
            if not spots:
                continue
            i, m = rng.choice(spots)
            lines[i] = lines[i][: m.start()] + str(int(m.group(0)) * 2) + lines[i][m.end() :]
        elif op == "todo":
            starts = [
                i
                for i, line in enumerate(lines)  # top-level definitions (and Python methods)
                if re.match(
                    r"(\s*def|func|fn|pub fn|function|async function|class|struct|static|int|"
                    r"char|void|bool|size_t|long|unsigned|uint64_t|double)\b",
                    line,
                )
            ]
            if not starts:
                continue
            i = rng.choice(starts)
            indent = re.match(r"\s*", lines[i]).group(0)
            note = rng.choice(CODE_TODOS)
            lines.insert(i, f"{indent}/* {note} */" if lang_hint == "c" else f"{indent}{marker} {note}")
        elif op == "comment_typo":
            spots = [
                (i, m)
                for i, line in enumerate(lines)
                if line.lstrip().startswith(("#", "//", "/*", "*", '"""'))
                for m in re.finditer(r"\b[a-z]{6,}\b", line)
            ]
            if not spots:
                continue
            i, m = rng.choice(spots)
            lines[i] = lines[i][: m.start()] + typo(rng, m.group(0)) + lines[i][m.end() :]
        done.append(op)
    return "\n".join(lines), done


def plant_copies(rng: random.Random, source: str, originals: list[Doc]) -> list[Doc]:
    """Exact and near duplicates of randomly chosen originals (disjoint sets of originals)."""
    copies: list[Doc] = []
    reserved: set[int] = set()

    def take(pool: list[Doc]) -> Doc:
        free = [d for d in pool if id(d) not in reserved]
        doc = rng.choice(free)
        reserved.add(id(doc))
        return doc

    for _ in range(EXACT_PLAIN[source]):
        orig = take(originals)
        copies.append(
            Doc(
                source,
                "exact_dup",
                orig.lang,
                orig.text,
                copy_fields(rng, orig, False),
                kind="byte_identical",
                parent=orig,
            )
        )
    for variant in EXACT_NORMALIZED[source]:
        if variant == "nfd":
            orig = take([d for d in originals if unicodedata.normalize("NFD", d.text or "") != d.text])
            text = unicodedata.normalize("NFD", orig.text or "")
            kind = "nfd"
        else:
            orig = take([d for d in originals if "\n" in (d.text or "")])
            text = crlf_variant(rng, orig.text or "")
            kind = "crlf_trailing_whitespace"
        copies.append(Doc(source, "exact_dup", orig.lang, text, copy_fields(rng, orig, False), kind=kind, parent=orig))
    for lang, (singles, doubles) in NEAR_DUP[source].items():
        pool = [d for d in originals if d.lang == lang]
        for n_copies in [2] * doubles + [1] * singles:
            orig = take(pool)
            made: list[str] = [normalize_text(orig.text or "")]
            for _ in range(n_copies):
                for _attempt in range(200):
                    if orig.lang == "code":
                        text, ops = edit_code(rng, orig.text or "", orig.fields["lang_hint"])
                    else:
                        paras, ops = edit_prose(rng, orig)
                        text = render(orig.head, paras, orig.joiner)
                    if not ops or normalize_text(text) in made:
                        continue
                    low, _ = jaccard_range(shingle_variants(text), orig.shingles)
                    if low >= NEAR_DUP_MIN_JACCARD:
                        break
                else:
                    raise RuntimeError(f"could not make a near duplicate of a {source} document")
                made.append(normalize_text(text))
                copy = Doc(
                    source, "near_dup", orig.lang, text, copy_fields(rng, orig, True), kind=", ".join(ops), parent=orig
                )
                copy.shingles = shingle_variants(text)
                copies.append(copy)
    return copies


# ---------------------------------------------------------------- junk


def make_short(rng: random.Random, source: str, n: int, pools: dict[str, list[Section]]) -> list[Doc]:
    if n == 0:
        return []
    if source == "web_zh":
        items = [("zh", t) for t in section(pools["junk_zh"], "short", "web")]
    elif source == "encyclopedia":
        items = [("en", t) for t in section(pools["junk_en"], "short", "encyclopedia")]
        items += [("zh", t) for t in section(pools["junk_zh"], "short", "encyclopedia")]
    else:
        name = "books" if source == "books" else "web"
        items = [("en", t) for t in section(pools["junk_en"], "short", name)]
    docs = []
    for lang, text in rng.sample(items, n):
        fields: dict[str, str] = {}
        if source.startswith("web"):
            host = rng.choice(EN_HOSTS if lang == "en" else ZH_HOSTS)
            fields = {"url": f"https://{host}/p/{rng.randint(1000, 99999)}", "date": random_date(rng)}
        elif source == "encyclopedia":
            title, _, text = text.partition(" :: ")
            fields = {"title": title}
        else:
            fields = {"title": rng.choice(("Fragment", "Untitled", "Notes"))}
        docs.append(Doc(source, "junk", lang, text, fields, kind="short"))
    return docs


_UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RULE_TOKEN = re.compile(f"[{_UNSPACED}][^\\s\\w]*|[^\\s{_UNSPACED}]+")


def junk_signals(text: str) -> dict[str, float]:
    """Rough Gopher/FineWeb measurements (one token per Han or kana character, 1.5 characters a word),
    used to make sure spam and boilerplate fail such rules by a clear margin, not by luck."""
    tokens = _RULE_TOKEN.findall(text)
    unspaced = len(re.findall(f"[{_UNSPACED}]", text))
    n_words = max(len(tokens) - unspaced + unspaced / 1.5, 1.0)
    lines = [line.strip() for line in text.split("\n") if line.strip()] or [""]
    n = 3 if unspaced > len(tokens) / 2 else 2
    grams = Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    total = sum(len(t) for t in tokens) or 1
    top = max((c * sum(map(len, g)) for g, c in grams.items() if c > 1), default=0) / total
    # Characters covered by 5-grams (8 characters in unspaced text) seen earlier in the text.
    n = 8 if unspaced > len(tokens) / 2 else 5
    seen: set[tuple[str, ...]] = set()
    covered = [False] * len(tokens)
    for i in range(len(tokens) - n + 1):
        gram = tuple(tokens[i : i + n])
        if gram in seen:
            covered[i : i + n] = [True] * n
        seen.add(gram)
    dup = sum(len(t) for t, c in zip(tokens, covered, strict=True) if c) / total
    return {
        "symbol_ratio": (text.count("#") + text.count("...") + text.count("…")) / n_words,
        "ellipsis_lines": sum(line.endswith(("...", "…")) for line in lines) / len(lines),
        "dup_lines": (len(lines) - len(set(lines))) / len(lines),
        "top_ngram": top,
        "dup_ngram": dup,
        "short_lines": sum(len(line) < 30 for line in lines) / len(lines),
        "n_words": n_words,
    }


def spam_strength(text: str) -> float:
    """How far past the nearest Gopher limit a spam page is (1.0 = exactly at a limit)."""
    s = junk_signals(text)
    limits = {"symbol_ratio": 0.1, "ellipsis_lines": 0.3, "dup_lines": 0.3, "top_ngram": 0.2, "dup_ngram": 0.15}
    return max(s[name] / limit for name, limit in limits.items())


def make_spam(rng: random.Random, source: str, n: int, pools: dict[str, list[Section]]) -> list[Doc]:
    """Keyword stuffing, one line repeated, hashtag walls, ellipsis teasers, and a mix of them."""
    english = source == "web_en"
    sections = pools["junk_en" if english else "junk_zh"]
    groups = [s.lines for s in sections if s.kind == "spam" and s.name not in ("lines", "hashtags", "ellipsis")]
    lines = section(sections, "spam", "lines")
    tags = section(sections, "spam", "hashtags")
    dots = section(sections, "spam", "ellipsis")
    sep = " " if english else "，"
    docs: list[Doc] = []
    seen: set[str] = set()
    styles = ("stuffing", "repeat", "hashtags", "ellipsis", "mixed")
    for i in range(n):
        style = styles[i % len(styles)]
        words = groups[i % len(groups)]
        for _ in range(200):
            title = sep.join(rng.sample(words, 3))
            shout = title.upper() if english else title
            if style == "stuffing":
                body = sep.join(rng.choice(words) for _ in range(rng.randint(40, 70)))
                text = f"{shout}\n\n{body}\n\n{rng.choice(lines)}"
            elif style == "repeat":
                text = "\n".join([shout] + [rng.choice(lines)] * rng.randint(9, 16))
            elif style == "hashtags":
                rows = [title[:1].upper() + title[1:]]
                for _ in range(rng.randint(4, 6)):
                    rows += [" ".join(rng.sample(tags, rng.randint(6, 10))), rng.choice(lines)]
                text = "\n".join(rows)
            elif style == "ellipsis":
                mark = "..." if english else "……"
                text = "\n".join(f"{rng.choice(dots)} {rng.choice(words)}{mark}" for _ in range(rng.randint(16, 24)))
            else:
                body = sep.join(rng.choice(words) for _ in range(rng.randint(40, 60)))
                hashtags = [" ".join(rng.sample(tags, 8)) for _ in range(3)]
                text = "\n".join([shout, body, *hashtags, rng.choice(lines), rng.choice(lines)])
            size_ok = len(text.split()) >= 60 if english else len("".join(text.split())) >= 120
            if size_ok and spam_strength(text) >= 1.5 and normalize_text(text) not in seen:
                break
        seen.add(normalize_text(text))
        host = rng.choice(
            ("deals.example.com", "promo.example.net", "best-offers.example.org", "win.example.com", "free.example.net")
        )
        fields = {"url": f"https://{host}/{slugify(text) or 'p'}-{rng.randint(10, 999)}", "date": random_date(rng)}
        docs.append(Doc(source, "junk", "en" if english else "zh", text, fields, kind="spam"))
    return docs


def make_boilerplate(rng: random.Random, source: str, n: int, pools: dict[str, list[Section]]) -> list[Doc]:
    """Navigation, login, cookie banner, link lists, social buttons and footer, in short lines."""
    english = source == "web_en"
    sections = pools["junk_en" if english else "junk_zh"]

    def items(name: str) -> list[str]:
        return section(sections, "boilerplate", name)

    docs: list[Doc] = []
    seen: set[str] = set()
    for _ in range(n):
        for _attempt in range(200):
            brand = rng.choice(items("brand"))
            year = str(rng.randint(2019, 2024))
            menu = rng.sample(items("menu"), rng.randint(9, 15))
            menu_lines = [f"- {item}" for item in menu] if rng.random() < 0.4 else menu
            bullet = rng.choice(("- ", "* ", "• "))
            cookie = [items("cookie")[0]] + rng.sample(items("cookie")[1:], 2)
            links = [bullet + link for link in rng.sample(items("links"), rng.randint(6, 10))]
            social = rng.sample(items("social"), rng.randint(2, 4))
            footer_lines = items("footer")
            footer = [footer_lines[0]] + rng.sample(footer_lines[1:], rng.randint(2, 3))
            footer = [
                line.replace("{year}", year)
                .replace("{brand}", brand)
                .replace("{num4}", str(rng.randint(1000, 9999)))
                .replace("{num}", str(rng.randint(10000000, 99999999)))
                for line in footer
            ]
            middle = [cookie, links, social]
            rng.shuffle(middle)
            blocks = [[brand, rng.choice(items("login"))], menu_lines, *middle, footer]
            text = "\n\n".join("\n".join(block) for block in blocks)
            size_ok = len(text.split()) >= 50 if english else len("".join(text.split())) >= 100
            # FineWeb rejects pages where more than 67% of the lines are shorter than 30 characters.
            if size_ok and junk_signals(text)["short_lines"] >= 0.8 and normalize_text(text) not in seen:
                break
        seen.add(normalize_text(text))
        host = rng.choice(EN_HOSTS if english else ZH_HOSTS)
        page = rng.choice(("contact", "about", "shop", "terms", "help", "login", "newsletter", "tag/offers"))
        fields = {"url": f"https://{host}/{page}?page={rng.randint(2, 40)}", "date": random_date(rng)}
        docs.append(Doc(source, "junk", "en" if english else "zh", text, fields, kind="boilerplate"))
    return docs


def make_other_lang(rng: random.Random, counts: dict[str, int], pools: dict[str, list[Section]]) -> list[Doc]:
    """French, German, Spanish, Russian and Japanese pages for web_en and encyclopedia."""
    docs: list[Doc] = []
    for sec in pools["other_lang"]:
        lang = sec.name
        entries = [tuple(part.strip() for part in line.split(" :: ", 1)) for line in sec.lines]
        order = rng.sample(range(len(entries)), len(entries))
        per_lang = {source: n // 5 for source, n in counts.items()}
        cursor = 0
        for source in sorted(per_lang):
            for d in range(per_lang[source]):
                take = 2 if source == "web_en" and d < 2 else 1
                chosen = [entries[i] for i in order[cursor : cursor + take]]
                cursor += take
                title = chosen[0][0]
                body = "\n\n".join(text for _, text in chosen)
                if source == "encyclopedia":
                    text = f"{title}\n\n{body}"
                    fields = {"title": title}
                else:
                    text = body
                    fields = {
                        "url": f"https://{lang}.example.com/article/{rng.randint(1000, 99999)}",
                        "date": random_date(rng),
                    }
                docs.append(Doc(source, "junk", lang, text, fields, kind="other_lang"))
    return docs


# ---------------------------------------------------------------- broken lines


def make_broken(rng: random.Random, source: str) -> list[Doc]:
    docs = []
    for kind in BROKEN[source]:
        lang = "zh" if source == "web_zh" else "code" if source == "code" else "en"
        docs.append(Doc(source, "broken", lang, rng.choice(BROKEN_TEXT[lang]), kind=kind))
    return docs


def broken_line(doc: Doc, rng: random.Random) -> str:
    """The raw line of a broken record; `doc.text` is the text it would have carried."""
    fields = {"id": doc.id, "text": doc.text}
    if doc.source == "code":
        python = (doc.text or "").startswith("def ")
        fields.update(
            path="src/mathx/add.py" if python else "internal/mathx/add.go", lang_hint="python" if python else "go"
        )
    elif doc.source.startswith("web"):
        url = f"https://{rng.choice(EN_HOSTS)}/p/{rng.randint(1000, 9999)}"
        fields.update(url=url, date=random_date(rng))
    else:
        fields.update(title="Untitled")
    kind = doc.kind
    dumps = json.dumps
    if kind == "truncated":
        full = dumps(fields, ensure_ascii=False, sort_keys=True)
        return full[: len(full) * 2 // 3]
    if kind == "bare_word":
        return "undefined"
    if kind == "trailing_comma":
        return dumps(fields, ensure_ascii=False, sort_keys=True)[:-1] + ",}"
    if kind == "array":
        return dumps([doc.id, doc.text], ensure_ascii=False)
    if kind == "json_string":
        return dumps(doc.text, ensure_ascii=False)
    if kind == "missing_text":
        del fields["text"]
    elif kind == "text_null":
        fields["text"] = None
    elif kind == "text_number":
        fields["text"] = 42
    elif kind == "text_list":
        fields["text"] = ["a", "b"]
    elif kind == "id_object":
        fields["id"] = {"x": 1}
    return dumps(fields, ensure_ascii=False, sort_keys=True)


# ---------------------------------------------------------------- checks


def repetition(text: str) -> tuple[float, float]:
    """Gopher-style (top 2-gram character fraction, duplicated 5-gram character fraction)."""
    words = re.findall(r"\w+", text.lower())
    total = sum(len(w) for w in words) or 1
    bigrams = Counter(zip(words, words[1:], strict=False))
    top2 = 0.0
    if bigrams:
        (a, b), count = max(bigrams.items(), key=lambda kv: (kv[1], kv[0]))
        top2 = count * (len(a) + len(b)) / total
    grams = Counter(tuple(words[i : i + 5]) for i in range(len(words) - 4))
    covered = [False] * len(words)
    for i in range(len(words) - 4):
        if grams[tuple(words[i : i + 5])] > 1:
            for j in range(i, i + 5):
                covered[j] = True
    dup5 = sum(len(w) for w, c in zip(words, covered, strict=True) if c) / total
    return top2, dup5


def original_problems(doc: Doc) -> list[str]:
    text = doc.text or ""
    problems = []
    lines = [line for line in text.split("\n") if line.strip()]
    if doc.lang != "code" and len(lines) != len(set(lines)):
        problems.append("repeated line")
    if doc.lang == "code":
        if not text.endswith("\n") or text.endswith("\n\n"):
            problems.append("code must end with exactly one newline")
        return problems
    if doc.lang == "zh":
        if han_count(text) < 120:
            problems.append(f"only {han_count(text)} Han characters")
        if "，" not in text or "。" not in text:
            problems.append("no Chinese punctuation")
        return problems
    words = text.split()
    alpha = [w for w in words if any(ch.isalpha() for ch in w)]
    mean_len = sum(len(w.strip(".,;:!?\"'()")) for w in words) / max(1, len(words))
    if len(words) < 80:
        problems.append(f"only {len(words)} words")
    if not 3 <= mean_len <= 10:
        problems.append(f"mean word length {mean_len:.1f}")
    if len(set(w.lower() for w in words) & EN_STOP_WORDS) < 3:
        problems.append("too few stop words")
    if len(alpha) < 0.8 * len(words):
        problems.append("alphabetic word ratio below 0.8")
    if "#" in text or "..." in text or "…" in text:
        problems.append("'#' or ellipsis")
    top2, dup5 = repetition(text)
    if top2 > 0.2 or dup5 > 0.15:
        problems.append(f"repetitive (top 2-gram {top2:.2f}, duplicated 5-grams {dup5:.2f})")
    return problems


def run_checks(docs_by_source: dict[str, list[Doc]], total_records: int) -> list[str]:
    failures: list[str] = []
    for source in SOURCES:
        docs = docs_by_source[source]
        originals = [d for d in docs if d.role == "original"]
        for doc in originals:
            for problem in original_problems(doc):
                failures.append(f"{doc.id}: {problem}")
        worst = (0.0, "", "")
        for i, a in enumerate(originals):
            for b in originals[i + 1 :]:
                high = jaccard_range(a.shingles, b.shingles)[1]
                if high > worst[0]:
                    worst = (high, a.id or "", b.id or "")
                if high >= ORIGINAL_MAX_JACCARD:
                    failures.append(f"originals {a.id} and {b.id}: Jaccard {high:.3f}")
        print(f"{source}: max Jaccard between originals {worst[0]:.3f} ({worst[1]}, {worst[2]})")
        for doc in docs:
            if doc.role == "near_dup" and doc.parent is not None:
                low, _ = jaccard_range(shingle_variants(doc.text or ""), doc.parent.shingles)
                if low < NEAR_DUP_MIN_JACCARD:
                    failures.append(f"near dup {doc.id}: Jaccard {low:.3f} < {NEAR_DUP_MIN_JACCARD}")
                if normalize_text(doc.text or "") == normalize_text(doc.parent.text or ""):
                    failures.append(f"near dup {doc.id} is an exact duplicate after normalization")
            if doc.role == "exact_dup" and doc.parent is not None:
                if normalize_text(doc.text or "") != normalize_text(doc.parent.text or ""):
                    failures.append(f"exact dup {doc.id} differs from {doc.parent.id} after normalization")
                if doc.kind == "byte_identical" and doc.text != doc.parent.text:
                    failures.append(f"exact dup {doc.id} is not byte-identical")
                if doc.kind != "byte_identical" and doc.text == doc.parent.text:
                    failures.append(f"exact dup {doc.id} ({doc.kind}) is byte-identical")
            if doc.role == "junk":
                text = doc.text or ""
                n_words, n_chars = len(text.split()), len("".join(text.split()))
                zh = doc.lang == "zh"
                ok = {
                    "short": (5 <= han_count(text) <= 30) if zh else 3 <= n_words <= 30,
                    "spam": (n_chars >= 120 if zh else n_words >= 60) and spam_strength(text) >= 1.5,
                    "boilerplate": (n_chars >= 100 if zh else n_words >= 50)
                    and junk_signals(text)["short_lines"] >= 0.8,
                    "other_lang": n_words >= 60 or n_chars >= 150,
                }[doc.kind]
                if not ok:
                    failures.append(f"junk {doc.id} ({doc.kind}) has the wrong size")
        ids = [d.id for d in docs if d.id is not None]
        if len(ids) != len(set(ids)):
            failures.append(f"{source}: duplicate ids")
    # Every text is unique after normalization, except planted exact duplicates and their originals.
    owners: dict[str, Doc] = {}
    for source in SOURCES:
        for doc in docs_by_source[source]:
            if doc.role in ("broken", "exact_dup"):
                continue
            key = normalize_text(doc.text or "")
            if key in owners:
                failures.append(f"{doc.id} repeats the text of {owners[key].id}")
            owners[key] = doc
    if total_records < MIN_TOTAL_RECORDS:
        failures.append(f"only {total_records} records, want >= {MIN_TOTAL_RECORDS}")
    return failures


# ---------------------------------------------------------------- output


def assign_ids_and_lines(rng: random.Random, source: str, docs: list[Doc]) -> list[str]:
    """Ids: originals before their copies. Lines: an independent shuffle, plus blank lines."""
    heads = [d for d in docs if d.role not in ("exact_dup", "near_dup")]
    order = rng.sample(heads, len(heads))
    for copy in [d for d in docs if d.role in ("exact_dup", "near_dup")]:
        after = next(i for i, d in enumerate(order) if d is copy.parent)
        order.insert(rng.randint(after + 1, len(order)), copy)
    for number, doc in enumerate(order, start=1):
        doc.id = f"{source}-{number:05d}"
    entries: list[Doc | None] = list(rng.sample(order, len(order)))
    for _ in range(BLANK_LINES.get(source, 0)):
        entries.insert(rng.randint(1, len(entries) - 1), None)
    lines = []
    for number, doc in enumerate(entries, start=1):
        if doc is None:
            lines.append("")
            continue
        doc.line_no = number
        if doc.role == "broken":
            lines.append(broken_line(doc, rng))
        else:
            record = {"id": doc.id, "text": doc.text, **doc.fields}
            lines.append(json.dumps(record, ensure_ascii=False, sort_keys=True))
    return lines


def gzip_bytes(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="", compresslevel=9) as handle:
        handle.write(data)
    return buffer.getvalue()


def build() -> tuple[dict[str, list[Doc]], dict[str, list[str]]]:
    pools = {
        name: read_pool(f"{name}.txt")
        for name in (
            "en_web",
            "zh_web",
            "en_encyclopedia",
            "zh_encyclopedia",
            "en_books",
            "zh_books",
            "junk_en",
            "junk_zh",
            "other_lang",
        )
    }

    def rng_for(part: str) -> random.Random:
        return random.Random(f"{SEED}/{part}")

    originals = {
        "web_en": make_web(rng_for("web_en"), "web_en", pools["en_web"], N_WEB_EN, (6, 10)),
        "web_zh": make_web(rng_for("web_zh"), "web_zh", pools["zh_web"], N_WEB_ZH, (8, 12)),
        "encyclopedia": make_encyclopedia(
            rng_for("ency_en"), pools["en_encyclopedia"], [ENCY_EN_PER_CATEGORY] * 10, True
        )
        + make_encyclopedia(rng_for("ency_zh"), pools["zh_encyclopedia"], ENCY_ZH_PER_CATEGORY, False),
        "books": make_books(rng_for("books_en"), pools["en_books"], BOOKS_EN_CHAPTERS, True)
        + make_books(rng_for("books_zh"), pools["zh_books"], BOOKS_ZH_CHAPTERS, False),
        "code": make_code(rng_for("code"), CODE_FILES_PER_LANG),
    }
    other_lang = make_other_lang(
        rng_for("other_lang"), {s: JUNK[s].get("other_lang", 0) for s in SOURCES if JUNK[s].get("other_lang")}, pools
    )
    docs_by_source: dict[str, list[Doc]] = {}
    lines_by_source: dict[str, list[str]] = {}
    for source in SOURCES:
        rng = rng_for(f"plant/{source}")
        docs = list(originals[source])
        docs += plant_copies(rng, source, originals[source])
        junk = JUNK[source]
        docs += make_short(rng, source, junk.get("short", 0), pools)
        docs += make_spam(rng, source, junk.get("spam", 0), pools)
        docs += make_boilerplate(rng, source, junk.get("boilerplate", 0), pools)
        docs += [d for d in other_lang if d.source == source]
        docs += make_broken(rng, source)
        lines_by_source[source] = assign_ids_and_lines(rng_for(f"order/{source}"), source, docs)
        docs_by_source[source] = docs
    return docs_by_source, lines_by_source


QUALITY_TRAIN = {"hq": {"web_en": 60, "web_zh": 50}, "lq": {"web_en": 60, "web_zh": 50}}


def build_quality_train() -> list[str]:
    """JSONL lines {"text", "label"} for the sample's quality classifier (see the module docstring)."""
    pools = {name: read_pool(f"{name}.txt") for name in ("en_web", "zh_web", "junk_en", "junk_zh", "other_lang",
                                                           "en_encyclopedia", "zh_encyclopedia")}

    def rng_for(part: str) -> random.Random:
        return random.Random(f"{SEED}/quality/{part}")

    rows = []
    for source, n in QUALITY_TRAIN["hq"].items():
        pool = pools["en_web" if source == "web_en" else "zh_web"]
        rows += [(d.text, "hq") for d in make_web(rng_for(source), source, pool, n, (6, 10))]
    for source, n in QUALITY_TRAIN["lq"].items():
        rng = rng_for(f"junk/{source}")
        rows += [(d.text, "lq") for d in make_spam(rng, source, n // 2, pools)]
        rows += [(d.text, "lq") for d in make_boilerplate(rng, source, n - n // 2, pools)]
    random.Random(f"{SEED}/quality/order").shuffle(rows)
    return [json.dumps({"text": text, "label": label}, ensure_ascii=False) for text, label in rows]


def planted_record(docs_by_source: dict[str, list[Doc]], lines_by_source: dict[str, list[str]]) -> dict:
    planted: dict = {
        "originals": [],
        "exact_dup": {},
        "exact_dup_kind": {},
        "near_dup": {},
        "near_dup_edits": {},
        "junk": {},
        "broken": [],
        "blank_lines": [],
        "counts": {},
    }
    for source in SOURCES:
        docs = docs_by_source[source]
        lines = lines_by_source[source]
        file_name = f"{source}.jsonl.gz"
        junk_counts: Counter = Counter()
        for doc in docs:
            if doc.role == "original":
                planted["originals"].append(doc.id)
            elif doc.role == "exact_dup" and doc.parent is not None:
                planted["exact_dup"][doc.id] = doc.parent.id
                planted["exact_dup_kind"][doc.id] = doc.kind
            elif doc.role == "near_dup" and doc.parent is not None:
                planted["near_dup"][doc.id] = doc.parent.id
                planted["near_dup_edits"][doc.id] = doc.kind
            elif doc.role == "junk":
                planted["junk"][doc.id] = doc.kind
                junk_counts[doc.kind] += 1
            elif doc.role == "broken":
                entry = {
                    "file": file_name,
                    "line": doc.line_no,
                    "kind": BROKEN_REASON[doc.kind],
                    "detail": doc.kind.replace("_", " "),
                }
                if doc.kind in BROKEN_WITH_ID:
                    entry["id"] = doc.id
                planted["broken"].append(entry)
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                planted["blank_lines"].append({"file": file_name, "line": number})
        roles = Counter(d.role for d in docs)
        planted["counts"][source] = {
            "lines": len(lines),
            "records": sum(1 for line in lines if line.strip()),
            "blank_lines": sum(1 for line in lines if not line.strip()),
            "originals": roles["original"],
            "exact_dup": roles["exact_dup"],
            "near_dup": roles["near_dup"],
            "junk": dict(sorted(junk_counts.items())),
            "broken": roles["broken"],
            "originals_by_lang": dict(
                sorted(Counter(d.fields.get("lang_hint", d.lang) for d in docs if d.role == "original").items())
            ),
        }
    planted["originals"].sort()
    planted["broken"].sort(key=lambda e: (e["file"], e["line"]))
    return planted


def summary_rows(planted: dict) -> list[list[str]]:
    kinds = ("short", "spam", "boilerplate", "other_lang")
    header = ["source", "originals", "exact_dup", "near_dup", *kinds, "broken", "blank", "lines"]
    rows = [header]
    totals = [0] * (len(header) - 1)
    for source in SOURCES:
        c = planted["counts"][source]
        values = [
            c["originals"],
            c["exact_dup"],
            c["near_dup"],
            *(c["junk"].get(k, 0) for k in kinds),
            c["broken"],
            c["blank_lines"],
            c["lines"],
        ]
        totals = [t + v for t, v in zip(totals, values, strict=True)]
        rows.append([source, *map(str, values)])
    rows.append(["total", *map(str, totals)])
    return rows


def language_rows(planted: dict) -> list[list[str]]:
    rows = [["source", "originals by language"]]
    for source in SOURCES:
        langs = planted["counts"][source]["originals_by_lang"]
        rows.append([source, ", ".join(f"{lang} {n}" for lang, n in langs.items())])
    return rows


def markdown_table(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(out)


def update_readme(text: str, table: str) -> str:
    begin, end = "<!-- counts:begin -->", "<!-- counts:end -->"
    if begin not in text or end not in text:
        return text
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{table}\n{end}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR, help="output directory (default: data/sample)")
    args = parser.parse_args(argv)

    docs_by_source, lines_by_source = build()
    planted = planted_record(docs_by_source, lines_by_source)
    total_records = sum(c["records"] for c in planted["counts"].values())
    failures = run_checks(docs_by_source, total_records)

    outputs: dict[str, bytes] = {}
    for source in SOURCES:
        data = "\n".join(lines_by_source[source]) + "\n"
        outputs[f"{source}.jsonl.gz"] = gzip_bytes(data.encode("utf-8"))
    outputs["quality_train.jsonl.gz"] = gzip_bytes(("\n".join(build_quality_train()) + "\n").encode("utf-8"))
    planted_json = json.dumps(planted, ensure_ascii=False, sort_keys=True, indent=1) + "\n"
    outputs["planted.json"] = planted_json.encode("utf-8")
    rows = summary_rows(planted)
    table = markdown_table(rows) + "\n\n" + markdown_table(language_rows(planted))
    readme = README.read_text(encoding="utf-8") if README.exists() else ""
    new_readme = update_readme(readme, table)
    pool_bytes = sum(p.stat().st_size for p in POOL_DIR.rglob("*") if p.is_file())
    total_bytes = pool_bytes + sum(len(b) for b in outputs.values()) + len(new_readme.encode("utf-8"))
    if total_bytes > MAX_SAMPLE_BYTES:
        failures.append(f"data/sample would hold {total_bytes} bytes, limit {MAX_SAMPLE_BYTES}")

    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    print(f"records: {total_records}; data/sample: {total_bytes / 1e6:.2f} MB")
    if failures:
        print(f"\n{len(failures)} self-check failure(s); nothing written:", file=sys.stderr)
        for failure in failures[:50]:
            print(f"  {failure}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in sorted(outputs.items()):
        (args.out / name).write_bytes(data)
    if args.out.resolve() == SAMPLE_DIR.resolve() and new_readme != readme:
        README.write_text(new_readme, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
