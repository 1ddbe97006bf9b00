"""Quote verification: what a model writes is mapped back to exact document offsets, or cut."""

from __future__ import annotations

import pytest

from qa.answering.quotes import check_quotes, locate, normalise
from qa.types import Passage

DOC_A = "Intro line.\n\nTokyo wants “closer ties” with Moscow,  he said.\nThe talks resume in   spring."
DOC_B = "Sports news. The team won the cup on Sunday after a long season."


def _passage(doc_id: int, source: str, text: str, start: int = 0) -> Passage:
    return Passage(
        chunk_id=doc_id * 10,
        doc_id=doc_id,
        source=source,
        title=source.upper(),
        start=start,
        end=len(text),
        text=text[start:],
        score=0.03,
        dense_score=0.5,
    )


@pytest.fixture
def passages():
    return [_passage(1, "a.txt", DOC_A, start=13), _passage(2, "b.txt", DOC_B)]


DOCS = {1: DOC_A, 2: DOC_B}


def test_normalise_maps_every_character_back():
    text = "a  “b”\n\tc ‘d’ "
    norm, where = normalise(text)
    assert norm == "a \"b\" c 'd'"
    for i, ch in enumerate(norm):
        if ch not in " \"'":
            assert text[where[i]] == ch


@pytest.mark.parametrize(
    "written",
    [
        "The talks resume in spring.",  # whitespace differs
        'Tokyo wants "closer ties" with Moscow',  # straight quote marks
        "the talks resume in spring",  # first letter's case, no full stop
        "The talks resume in spring,",  # added punctuation
    ],
)
def test_locate_tolerates_only_cosmetic_differences(written):
    span = locate(written, DOC_A)
    assert span is not None
    got = DOC_A[span[0] : span[1]]
    assert " ".join(got.replace("“", '"').replace("”", '"').split()).lower().strip(".,") == " ".join(
        written.split()
    ).lower().strip(".,")


@pytest.mark.parametrize("written", ["The talks resume in summer.", "Tokyo wants ties with Moscow", "resume spring"])
def test_locate_refuses_changed_words(written):
    assert locate(written, DOC_A) is None


def test_verified_quote_becomes_a_citation_at_exact_offsets(passages):
    checked = check_quotes('Tokyo is keen: "Tokyo wants "closer ties" with Moscow" [1].', passages, DOCS)
    # The inner straight quotes end the first quote early: only what checks out is cited.
    for c in checked.citations:
        assert DOC_A[c.start : c.end] == c.quote
    text = 'The talks "resume in spring" [1] and the team "won the cup on Sunday" [2].'
    checked = check_quotes(text, passages, DOCS)
    assert [c.quote for c in checked.citations] == ["resume in   spring", "won the cup on Sunday"]
    assert [(c.source, DOC_A if c.source == "a.txt" else DOC_B) for c in checked.citations]
    for c in checked.citations:
        doc = DOC_A if c.source == "a.txt" else DOC_B
        assert doc[c.start : c.end] == c.quote
        assert not c.reattributed
    assert checked.text == "The talks “resume in   spring” [1] and the team “won the cup on Sunday” [2]."
    assert checked.counts() == {"verified": 2, "reattributed": 0, "removed": 0, "copied": 0}


def test_misattributed_quote_is_reattributed_and_marked(passages):
    checked = check_quotes('They "won the cup on Sunday" [1].', passages, DOCS)
    (c,) = checked.citations
    assert c.source == "b.txt" and c.reattributed and DOC_B[c.start : c.end] == c.quote
    assert checked.checks[0].status == "reattributed" and checked.checks[0].passage == 2
    assert c.to_dict()["reattributed"] is True


def test_invented_quote_is_removed_never_cited(passages):
    checked = check_quotes('Japan "will buy Russian gas next year" [1]. The team "won the cup" [2].', passages, DOCS)
    assert [c.quote for c in checked.citations] == ["won the cup"]
    assert "Russian gas" not in checked.text
    assert "[quote removed: not found in the articles]" in checked.text
    assert checked.counts() == {"verified": 1, "reattributed": 0, "removed": 1, "copied": 0}


def test_bare_passage_numbers_and_short_uncited_quotes(passages):
    checked = check_quotes('The "cup" matters [2]. Also "the team won the cup on Sunday" here.', passages, DOCS)
    # "cup" has no number of its own and is short: left as prose, not a citation.
    assert checked.checks[0].status == "uncited"
    # A long quote without a number is still checked, and cited where found.
    assert [c.source for c in checked.citations] == ["b.txt"]
    assert "[2]" not in checked.text.split("“the team")[0]
    # The reader sees the document's own words: its capital T, not the model's lower case.
    assert checked.text.endswith("“The team won the cup on Sunday” [1] here.")


def test_repeated_quote_keeps_its_number(passages):
    checked = check_quotes('"won the cup on Sunday" [2] … again "won the cup on Sunday" [2]', passages, DOCS)
    assert len(checked.citations) == 1
    assert checked.text.count("[1]") == 2


def test_reserved_marker_characters_in_model_text_are_ignored(passages):
    checked = check_quotes("fake \x009\x00 marker", passages, DOCS)
    assert checked.text == "fake 9 marker" and not checked.citations


def test_sentence_copied_without_quote_marks_is_shown_as_a_quote(passages):
    text = "The team won the cup on Sunday after a long season. Fans were happy about it all week long, they said."
    checked = check_quotes(text, passages, DOCS)
    (c,) = checked.citations
    assert DOC_B[c.start : c.end] == c.quote == "The team won the cup on Sunday after a long season."
    assert checked.checks[0].status == "copied"
    # The copy is marked as the quote it is; the model's own sentence stays prose.
    assert checked.text == f"“{c.quote}” [1] Fans were happy about it all week long, they said."
    assert checked.counts()["copied"] == 1


def test_short_or_altered_copies_stay_prose(passages):
    checked = check_quotes(
        "The team won the cup. The team won a cup on Sunday after a very long season.", passages, DOCS
    )
    assert not checked.citations


DOC_C = "The health board said the new vaccine is unsafe for children under five. A ticket costs 150 dollars."
DOC_D = "The Rhone glacier lost 14 metres of ice in 2022. Scientists blamed the hot summer."


def test_a_quote_is_found_only_as_whole_words():
    # Inside "unsafe" the words "safe for children" are there, and say the opposite.
    assert locate("safe for children under five", DOC_C) is None
    assert locate("costs 1", DOC_C) is None
    span = locate("unsafe for children under five", DOC_C)
    assert DOC_C[span[0] : span[1]] == "unsafe for children under five"
    assert locate("vaccine", "A vaccine-maker and the vaccine") == (2, 9)  # a hyphen ends a word
    checked = check_quotes(
        'Yes: the new vaccine is "safe for children under five" [1].', [_passage(3, "c.txt", DOC_C)], {3: DOC_C}
    )
    assert checked.citations == [] and checked.counts()["removed"] == 1


@pytest.mark.parametrize(
    "written",
    [
        'The survey says “The Rhone glacier lost "40 metres" of ice in 2022” [1].',  # an invented phrase nested in a real quote
        'It "lost 40 metres" (1).',  # a reference in round brackets
        'It "lost 40 metres" [1-2].',  # a range
        "It ‘lost 40 metres of ice in 2022’ [1].",  # single quote marks
        "It ‘lost 40 metres of ice in 2022’, the survey said.",  # single, long, no reference
    ],
)
def test_no_words_are_shown_inside_quote_marks_unchecked(written):
    passages, docs = [_passage(4, "d.txt", DOC_D)], {4: DOC_D}
    checked = check_quotes(written + ' And "Scientists blamed the hot summer" [1].', passages, docs)
    assert "40 metres" not in "".join(c.quote for c in checked.citations)
    shown = checked.text
    # Whatever stands between quote marks now is the article's own words.
    import re

    for quoted in re.findall(r"[“\"‘]([^”\"’]+)[”\"’]", shown):
        assert quoted in DOC_D, (written, shown)
    assert "“Scientists blamed the hot summer” [1]" in shown


def test_a_short_quote_without_a_reference_is_shown_as_plain_words():
    checked = check_quotes(
        'The "glacier" matters: it "lost 14 metres of ice in 2022" [1].', [_passage(4, "d.txt", DOC_D)], {4: DOC_D}
    )
    assert checked.text == "The glacier matters: it “lost 14 metres of ice in 2022” [1]."
    # An apostrophe is not a closing quote mark.
    checked = check_quotes(
        "The board’s ‘new vaccine is unsafe for children’ [1].", [_passage(3, "c.txt", DOC_C)], {3: DOC_C}
    )
    assert [c.quote for c in checked.citations] == ["new vaccine is unsafe for children"]
