import re

import apache_beam as beam
import phonenumbers
import pytest
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.beam_testing import fn_api_test_pipeline
from transforms.document import Document
from transforms.safety import (
    BlocklistMatcher,
    FilterSafety,
    SafetyConfig,
    check_safety,
    find_pii,
    load_blocklist,
    load_blocklists,
    match_blocklists,
    parse_blocklist,
    redact_pii,
)
from transforms.scripts import UNSPACED_CHAR


def _find(terms, text):
    return match_blocklists(text, {"l": BlocklistMatcher.of(terms)})["l"]


# ---------------------------------------------------------------- blocklist files

def test_parse_blocklist_skips_comments_blanks_and_duplicates():
    text = "# adult words\nFoo\n\n   \n  # indented comment\n  BAR   baz \nfoo\nStraße\n赌博\n"
    assert parse_blocklist(text) == ("foo", "bar baz", "strasse", "赌博")


def test_load_blocklist_reads_utf8(tmp_path):
    path = tmp_path / "zh.txt"
    path.write_text("# 中文\n赌博\n博彩\n", encoding="utf-8")
    assert load_blocklist(str(path), "zh") == ("赌博", "博彩")


def test_missing_list_is_one_clear_line(tmp_path):
    missing = str(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError) as err:
        load_blocklists({"adult_en": missing})
    assert str(err.value) == f"safety.word_blocklists.adult_en: file not found: {missing}"


@pytest.mark.parametrize(("content", "message"), [
    (b"# only a comment\n\n", "has no terms"),
    (b"caf\xe9\n", "is not UTF-8"),
])
def test_unusable_list_is_one_clear_line(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"^safety.word_blocklists.bad: {re.escape(str(path))} {message}") as err:
        load_blocklist(str(path), "bad")
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- matching

@pytest.mark.parametrize(("terms", "text", "found"), [
    (["ass"], "The class assessment passed.", []),                      # whole words only
    (["ass"], "What an ASS.", ["ass"]),                                  # case-insensitive
    (["ass"], "ass-hat and (ass)", ["ass"]),                             # punctuation is a boundary
    (["big black"], "a BIG\n  black dog", ["big black"]),                # a space matches any whitespace
    (["big black"], "big blackbird", []),
    (["big black", "black cat"], "a big black cat", ["big black", "black cat"]),   # overlapping phrases
    (["ass", "asshole"], "you asshole", ["asshole"]),                    # longest at one position
    (["f*ck", "c++"], "F*CK this c++ code", ["f*ck", "c++"]),            # regex characters are literal
    (["strasse"], "Die STRASSE und die Straße", ["strasse"]),            # casefold: ß = ss
    (["porn"], "看porn视频", ["porn"]),                                  # Han characters are not word letters
    (["porn"], "pornography", []),
    (["赌博", "博彩"], "网上赌博彩票", ["赌博", "博彩"]),                  # unspaced: substrings, overlapping
    (["av女优"], "看AV女优的", ["av女优"]),                               # a term with Han is a substring
    (["色情"], "这是一部正常的电影", []),
    (["xxx", "色情"], "色情 and xxx", ["色情", "xxx"]),                   # order of first occurrence
])
def test_blocklist_matching(terms, text, found):
    assert _find(terms, text) == found


def test_many_terms_share_one_trie():
    terms = [f"word{i}" for i in range(3000)] + [chr(0x4E00 + i) + "字" for i in range(1000)]
    matcher = BlocklistMatcher.of(terms)
    assert matcher.find("x word12 word2999 word30000 一字 丁字") == ["word12", "word2999", "一字", "丁字"]


def _naive(terms, text):
    folded = text.casefold()
    u = UNSPACED_CHAR.pattern[1:-1]
    found = set()
    for term in terms:
        body = r"\s+".join(map(re.escape, term.split(" ")))
        if re.search(f"[{u}]", term):
            pattern = body
        else:
            pattern = rf"(?<![^\W{u}]){body}(?![^\W{u}])"
        if re.search(pattern, folded):
            found.add(term)
    return found


_ALPHABET = "abc .*-]^\\赌博彩"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(_ALPHABET, min_size=1, max_size=4).map(lambda t: " ".join(t.split())).filter(bool),
                min_size=1, max_size=12, unique=True),
       st.text(_ALPHABET + "AB\n", max_size=40))
def test_trie_matches_each_term_like_its_own_regex(terms, text):
    found = set(_find(terms, text))
    naive = _naive(terms, text)
    # At one start position only the longest term is reported: a shorter one may hide behind it.
    assert found <= naive
    assert all(any(f.startswith(t) for f in found) for t in naive - found)


def test_wide_trie_nodes_match_every_first_character():
    terms = [chr(0x4E00 + i) for i in range(0, 2000, 7)] + [f"{chr(c)}x" for c in range(ord("a"), ord("z") + 1)]
    matcher = BlocklistMatcher.of(terms)
    for term in terms:
        assert matcher.find(f"-- {term} --") == [term]


# ---------------------------------------------------------------- deciding

CLEAN = "The harbour town keeps its history in the stones of its narrow streets."


def _matchers(**lists):
    return {name: BlocklistMatcher.of(terms) for name, terms in lists.items()}


def test_clean_document_is_measured_for_every_list():
    result = check_safety(CLEAN, _matchers(en=["casino"], zh=["赌博"]), SafetyConfig())
    assert result.reason is None
    assert result.text == CLEAN
    assert result.scores == {"blocklist:en": 0.0, "blocklist:zh": 0.0, "pii_email": 0.0, "pii_ip": 0.0,
                             "pii_phone": 0.0}


def test_min_hits_counts_distinct_terms():
    matchers = _matchers(spam=["casino", "poker", "jackpot"])
    cfg = SafetyConfig(word_blocklist_min_hits=2)
    once = check_safety("Casino casino CASINO night.", matchers, cfg)
    assert (once.reason, once.scores["blocklist:spam"]) == (None, 1.0)
    twice = check_safety("Casino and poker night.", matchers, cfg)
    assert (twice.reason, twice.detail, twice.scores["blocklist:spam"]) == (
        "word_blocklist:spam", "casino,poker", 2.0)


def test_first_list_in_name_order_decides_and_all_are_measured():
    matchers = _matchers(b_list=["poker"], a_list=["赌博"], c_list=["casino"])
    result = check_safety("poker 和 赌博, email me at jane.doe@example.com", matchers, SafetyConfig())
    assert result.reason == "word_blocklist:a_list"
    assert result.detail == "赌博"
    # Dropped documents are not redacted and get no PII scores.
    assert result.text == "poker 和 赌博, email me at jane.doe@example.com"
    assert result.scores == {"blocklist:a_list": 1.0, "blocklist:b_list": 1.0, "blocklist:c_list": 0.0}


def test_detail_names_the_first_five_terms_in_text_order():
    terms = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    result = check_safety("foxtrot echo delta charlie bravo alpha", _matchers(n=terms), SafetyConfig())
    assert result.detail == "foxtrot,echo,delta,charlie,bravo"
    assert result.scores["blocklist:n"] == 6.0


def test_pii_off_keeps_text_and_adds_no_pii_scores():
    result = check_safety("mail jane.doe@example.com", {}, SafetyConfig(pii=False))
    assert (result.text, result.scores) == ("mail jane.doe@example.com", {})


# ---------------------------------------------------------------- PII

@pytest.mark.parametrize(("text", "redacted"), [
    ("Write to jane.doe@example.com today.", "Write to <EMAIL> today."),
    ("mail me: John.Smith+news@sub.example.co.uk.", "mail me: <EMAIL>."),
    ("<jane@example.org>", "<<EMAIL>>"),
    ("邮箱jane@example.com。", "邮箱<EMAIL>。"),
    ("the server at 192.168.1.20 is down", "the server at <IP> is down"),
    ("服务器地址是192.168.1.20。", "服务器地址是<IP>。"),
    ("http://192.168.1.1:8080/admin", "http://<IP>:8080/admin"),
    ("ranges 10.0.0.1-10.0.0.255", "ranges <IP>-<IP>"),
    ("ping 2001:db8::1 now", "ping <IP> now"),
    ("at [2001:db8:85a3::8a2e:370:7334]:443", "at [<IP>]:443"),
    ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "<IP>"),
    ("mapped ::ffff:192.0.2.1 here", "mapped <IP> here"),
    ("link-local fe80::1%eth0", "link-local <IP>%eth0"),
    ("call +1 (415) 555-0132 now", "call <PHONE> now"),
    ("call (415) 555-0132 now", "call <PHONE> now"),
    ("London: +44 20 7946 0958.", "London: <PHONE>."),
    ("请拨打+86 138 0013 8000联系我们", "请拨打<PHONE>联系我们"),
    ("phone 415.555.0132.", "phone <PHONE>."),
    ("Call 4155550132 today", "Call <PHONE> today"),                     # bare digits after a phone word
    ("tel:+14155550132", "tel:<PHONE>"),
    ("Call 1-800-555-0199 or 1 800 555 0199", "Call <PHONE> or <PHONE>"),
    ("Sydney +61 2 9876 5432, Paris +33 6 12 34 56 78", "Sydney <PHONE>, Paris <PHONE>"),
    ("Info: www.earbooks.net/en | +49 (0)40 890 85-433", "Info: www.earbooks.net/en | <PHONE>"),
])
def test_pii_is_redacted(text, redacted):
    assert redact_pii(text)[0] == redacted


@pytest.mark.parametrize("text", [
    # versions
    "1.2.3", "v2.0.0.1", "Python 3.11.7", "numpy==1.26.4", "version 10.0.0.1", "Version: 10.0.0.1",
    "requires foo>=1.2.3.4", "pkg-1.2.3.4.tar.gz", "pkg-1.2.3.4", "numpy 1.26.4 on 10.0.0.1-beta",
    "build 10.0.19041.1", "Chrome 120.0.6099.109", "版本10.0.0.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0",
    "section 3.2.1.4", "齿式是：上颚1-3.1.4.2；下颚3.1.4.2-3", "OID 1.3.6.1.4.1.311", "192.168.001.001",
    # code
    "a = b @ c", "@property", "@app.route('/')", "user@host:~$ ls", "git@github.com:org/repo.git",
    "root@box.example.com:/var/log# tail", "result = q@k.transpose(0, 1)", "x@W.T", "icon@2x.png",
    '"@types/node@20.11.5"', "lodash@4.17.21", "x.y.z.w", "self.layers.0.weight", "std::vector<int>",
    "Foo::Bar::baz() and abc::def and dead::beef", "a[::2] and a[10::2] and a[1000::2]", "x = [::1]",
    "for i in range(1234567890):", "x = 4155550132", "user_id=4155550132", "order #4155550132",
    "0x4155550132", "see https://example.com/users/4155550132/profile",
    # ids, hashes, numbers
    "550e8400-e29b-41d4-a716-446655440000", "12345678-1234-1234-1234-123456789012",
    "deadbeefcafebabe0123456789abcdef", "commit 3f2a1b4155550132ab", "timestamp 1715904000",
    "2024-05-17", "17.05.2024 and 05/17/2024 and 2024/05/17", "12:30:45 and 10:30 to 11:45:00",
    "00:1A:2B:3C:4D:5E", "ISBN 978-0-306-40615-7", "ISBN 0-306-40615-2", "ISBN-13: 978-3-16-148410-0",
    "[0.4155550132, 0.1234567, 3.1415926]", "arr = np.array([0.1234567, 0.2345678, 0.3456789])",
    "matrix = [[1234567, 2345678], [3456789, 4567890]]", "value 3.14159265358979",
    "the second gives 3.464101644*10^7.", "1 2 3 4 5 6 7 8 9 10", "population 1 234 567 people",
    "ZIP 94105-1234", "Copyright 2010-2024", "lat 37.4219999, lng -122.0840575", "4111 1111 1111 1111",
    "price $1,234,567.89", "1.1.1.1 and 8.8.8.8", "scores: 98 87 76 65 54 43 32 21",
    "1 Kyle Busch 5040 5 1 17 27\n2 Martin Truex Jr. 5035 7 0 15 24\n3 Kevin Harvick 5033 4 6 15 26",
])
def test_no_false_positives(text):
    assert find_pii(text) == []
    assert redact_pii(text) == (text, {"email": 0, "ip": 0, "phone": 0})


def test_redaction_counts_each_kind_and_keeps_everything_else():
    text = ("Ops:\n  jane.doe@example.com  (415) 555-0132\tserver 10.0.0.5 / 2001:db8::7\n"
            "Backup: bob@example.org, +44 20 7946 0958 — ünïcödé 🙂\n")
    out, counts = redact_pii(text)
    assert out == ("Ops:\n  <EMAIL>  <PHONE>\tserver <IP> / <IP>\n"
                   "Backup: <EMAIL>, <PHONE> — ünïcödé 🙂\n")
    assert counts == {"email": 2, "ip": 2, "phone": 2}
    assert redact_pii(text) == (out, counts)                       # deterministic
    assert find_pii(text)[0] == (7, 27, "email")


def test_phone_region_reads_national_numbers():
    assert redact_pii("Tel: 020 7946 0958", "US")[0] == "Tel: 020 7946 0958"
    assert redact_pii("Tel: 020 7946 0958", "GB")[0] == "Tel: <PHONE>"
    assert redact_pii("Tel: 020 7946 0958", "ZZ")[0] == "Tel: 020 7946 0958"
    assert redact_pii("Tel: +44 20 7946 0958", "ZZ")[0] == "Tel: <PHONE>"


def test_text_without_seven_digits_never_runs_the_phone_matcher(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("PhoneNumberMatcher called")

    monkeypatch.setattr(phonenumbers, "PhoneNumberMatcher", boom)
    text = "Call 555-013 about the 2024 plan, room 12-34, ext. 56, at 10:30 on 2024-05-17. " * 50
    assert redact_pii(text) == (text, {"email": 0, "ip": 0, "phone": 0})


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(blacklist_characters="@0123456789:", blacklist_categories=("Cs",)), max_size=200))
def test_text_without_digits_at_or_colons_is_unchanged(text):
    assert redact_pii(text)[0] == text


# ---------------------------------------------------------------- config

@pytest.mark.parametrize(("kwargs", "message"), [
    ({"word_blocklists": ["a.txt"]}, "safety.word_blocklists: expected a mapping"),
    ({"word_blocklists": {"bad name": "a.txt"}}, "safety.word_blocklists: list name 'bad name'"),
    ({"word_blocklists": {"en": ""}}, "safety.word_blocklists.en: expected a file path"),
    ({"word_blocklist_min_hits": 0}, "safety.word_blocklist_min_hits: must be an integer >= 1, got 0"),
    ({"word_blocklist_min_hits": 1.5}, "safety.word_blocklist_min_hits"),
    ({"word_blocklist_min_hits": True}, "safety.word_blocklist_min_hits"),
    ({"pii": "yes"}, "safety.pii: must be true or false"),
    ({"enabled": 1}, "safety.enabled: must be true or false"),
    ({"phone_region": "XX"}, "safety.phone_region: unknown region 'XX'"),
    ({"phone_region": "us"}, "safety.phone_region: unknown region 'us'"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        SafetyConfig(**kwargs)


def test_config_defaults():
    cfg = SafetyConfig()
    assert (dict(cfg.word_blocklists), cfg.word_blocklist_min_hits, cfg.pii, cfg.phone_region, cfg.enabled) == (
        {}, 1, True, "US", True)


# ---------------------------------------------------------------- transform

def test_transform_drops_redacts_and_measures(tmp_path):
    en, zh = tmp_path / "en.txt", tmp_path / "zh.txt"
    en.write_text("# test list\ncasino\nonline poker\n", encoding="utf-8")
    zh.write_text("赌博\n博彩\n", encoding="utf-8")
    cfg = SafetyConfig(word_blocklists={"zh": str(zh), "en": str(en)})
    docs = [
        Document(id="w/1", source="web", text="Mail jane.doe@example.com or call (415) 555-0132.",
                 scores={"n_words": 7.0}),
        Document(id="w/2", source="web", text="Play ONLINE  poker at the Casino tonight!"),
        Document(id="w/3", source="web", text="网上赌博彩票，请拨打+86 138 0013 8000"),
        Document(id="w/4", source="web", text="A classic casinos review, version 10.0.0.1."),
    ]
    with fn_api_test_pipeline() as p:
        out = p | beam.Create(docs) | FilterSafety(cfg)
        assert_that(out.kept | beam.Map(lambda d: (d.id, d.text, d.decision, sorted(d.scores.items()))),
                    equal_to([
                        ("w/1", "Mail <EMAIL> or call <PHONE>.", "keep",
                         [("blocklist:en", 0.0), ("blocklist:zh", 0.0), ("n_words", 7.0), ("pii_email", 1.0),
                          ("pii_ip", 0.0), ("pii_phone", 1.0)]),
                        ("w/4", "A classic casinos review, version 10.0.0.1.", "keep",
                         [("blocklist:en", 0.0), ("blocklist:zh", 0.0), ("pii_email", 0.0), ("pii_ip", 0.0),
                          ("pii_phone", 0.0)]),
                    ]), label="kept")
        assert_that(out[FilterSafety.REJECTED]
                    | beam.Map(lambda d: (d.id, d.decision, d.meta["drop_detail"], d.text, sorted(d.scores.items()))),
                    equal_to([
                        ("w/2", "safety:word_blocklist:en", "online poker,casino",
                         "Play ONLINE  poker at the Casino tonight!", [("blocklist:en", 2.0), ("blocklist:zh", 0.0)]),
                        ("w/3", "safety:word_blocklist:zh", "赌博,博彩", "网上赌博彩票，请拨打+86 138 0013 8000",
                         [("blocklist:en", 0.0), ("blocklist:zh", 2.0)]),
                    ]), label="rejected")


def test_disabled_stage_passes_documents_through():
    from transforms.safety import _SafetyFn

    fn = _SafetyFn(SafetyConfig(word_blocklists={"en": "/nonexistent/list.txt"}, enabled=False))
    fn.setup()                                                    # does not read the lists
    doc = Document(id="w/1", source="web", text="jane.doe@example.com")
    assert list(fn.process(doc)) == [doc]
