from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import DATA, SEED

from qa.config import Settings
from qa.ingestion.files import discover, fingerprint
from qa.ingestion.loading import load_file


def _load_one(folder: Path, name: str, settings: Settings | None = None):
    files, skipped, _ = discover(folder, settings or Settings())
    match = [f for f in files if f.source == name]
    if not match:
        return None, skipped
    return load_file(match[0]), skipped


def test_seed_title_comes_from_sidecar(tmp_path):
    (tmp_path / SEED.name).write_bytes(SEED.read_bytes())
    (tmp_path / (SEED.stem + ".meta.json")).write_text('{"title": "Japan and Russia", "publisher": "Russia Direct"}')
    loaded, _ = _load_one(tmp_path, SEED.name)
    doc = loaded.document
    assert doc.title == "Japan and Russia"
    assert doc.meta["publisher"] == "Russia Direct"
    assert doc.text == SEED.read_text(encoding="utf-8")


def test_sidecar_change_changes_fingerprint(tmp_path):
    (tmp_path / "a.txt").write_text("Some article text. Another sentence.")
    files, _, _ = discover(tmp_path, Settings())
    before = fingerprint(files[0])
    (tmp_path / "a.meta.json").write_text('{"title": "New title"}')
    files, _, _ = discover(tmp_path, Settings())
    assert files[0].sidecar is not None
    assert fingerprint(files[0]) != before


def test_bbc_headline_is_the_title():
    loaded, _ = _load_one(DATA / "bbc", "business/001.txt")
    if loaded is None:
        pytest.skip("business/001.txt not among the fixtures")
    first_line = (DATA / "bbc" / "business" / "001.txt").read_text(encoding="utf-8").splitlines()[0]
    assert loaded.document.title == first_line.strip()


def test_latin1_file_is_decoded_and_noted():
    loaded, _ = _load_one(DATA / "bbc", "sport/199.txt")
    raw = (DATA / "bbc" / "sport" / "199.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert loaded.document is not None
    assert loaded.document.text == raw.decode("latin-1")
    assert "£" in loaded.document.text
    assert any("not UTF-8" in note and "8859-1" in note for note in loaded.notes)


@pytest.mark.parametrize(
    ("content", "note"),
    [
        ("Penguin news\n\nThe colony had 22,000 birds in 2024.\n".encode("utf-16"), "UTF-16 (byte-order mark)"),
        (b"\xfe\xff" + "Penguin news\n\nThe colony had 22,000 birds in 2024.\n".encode("utf-16-be"), "UTF-16"),
        ("Penguin news\n\nThe colony had 22,000 birds in 2024.\n".encode("utf-32"), "UTF-32 (byte-order mark)"),
    ],
)
def test_unicode_text_with_a_byte_order_mark_is_read_not_called_binary(tmp_path, content, note):
    (tmp_path / "notepad.txt").write_bytes(content)
    loaded, _ = _load_one(tmp_path, "notepad.txt")
    assert loaded.document is not None and "The colony had 22,000 birds in 2024." in loaded.document.text
    assert any(note in n for n in loaded.notes)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Новости\n\nПётр Иванов сказал, что переговоры продолжатся в Москве. " * 8, "cp1251"),
        ("Nouvelles\n\nVoilà\xa0» le café de la gare est fermé; les élèves étaient déçus. " * 4, "cp1252"),
    ],
)
def test_a_legacy_file_is_read_in_its_own_encoding(tmp_path, text, encoding):
    """Even where a pair of its bytes happens to be valid UTF-8 ("Пётр" in Windows-1251)."""
    (tmp_path / "legacy.txt").write_bytes(text.encode(encoding))
    loaded, _ = _load_one(tmp_path, "legacy.txt")
    assert loaded.document.text == text


def test_a_file_mixing_utf8_and_windows_1252_keeps_both_readable(tmp_path):
    (tmp_path / "mixed.txt").write_bytes("Mixed\n\nThe café sells €5 waffles.\n".encode().replace(b"\xc3\xa9", b"\xe9"))
    loaded, _ = _load_one(tmp_path, "mixed.txt")
    assert loaded.document.text.endswith("The café sells €5 waffles.\n")
    assert any("mixes two encodings" in n and "1 byte(s)" in n for n in loaded.notes)


def test_a_windows_1252_file_with_a_pasted_utf8_phrase_keeps_both_readable(tmp_path):
    """More stray bytes than UTF-8 characters: still mixed, when the UTF-8 ones are the
    accents and typographic marks that get pasted in."""
    text = "Les élèves étaient déçus; le café était fermé. " * 3 + "It’s “fine”, said O’Brien — naïve."
    data = ("Les élèves étaient déçus; le café était fermé. " * 3).encode("cp1252")
    (tmp_path / "pasted.txt").write_bytes(data + "It’s “fine”, said O’Brien — naïve.".encode())
    loaded, _ = _load_one(tmp_path, "pasted.txt")
    assert loaded.document.text == text


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"   \n\n\t  \n", "empty"),
        (bytes(range(256)) * 40, "binary"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(500), "binary"),
    ],
)
def test_bad_files_are_skipped_with_a_reason(tmp_path, content, reason):
    (tmp_path / "bad.txt").write_bytes(content)
    loaded, _ = _load_one(tmp_path, "bad.txt")
    assert loaded.document is None
    assert loaded.skipped.source == "bad.txt"
    assert reason in loaded.skipped.reason


def test_oversized_file_is_refused_up_front(tmp_path):
    (tmp_path / "big.txt").write_text("word " * 1000)
    files, skipped, _ = discover(tmp_path, Settings(max_file_bytes=1000))
    assert files == []
    assert skipped[0].source == "big.txt" and "limit" in skipped[0].reason


def test_symlink_out_of_corpus_is_skipped(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("Secret text outside the corpus. It must not be indexed.")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    os.symlink(outside, corpus / "link.txt")
    files, skipped, _ = discover(corpus, Settings())
    assert files == []
    assert skipped[0].source == "link.txt" and "outside" in skipped[0].reason


def test_broken_links_and_orphaned_metadata_are_named_not_silently_dropped(tmp_path):
    (tmp_path / "kept.txt").write_text("An article that stays. It has two sentences.")
    (tmp_path / "kept.meta.json").write_text('{"title": "Kept"}')
    (tmp_path / "renamed.meta.json").write_text('{"title": "Its article was renamed"}')
    (tmp_path / "report.odt").write_bytes(b"PK\x03\x04 not an article qa reads")
    (tmp_path / "report.meta.json").write_text('{"title": "Beside a file of another type"}')
    os.symlink(tmp_path / "gone.txt", tmp_path / "dangling.txt")
    files, skipped, _ = discover(tmp_path, Settings())
    assert [f.source for f in files] == ["kept.txt"] and files[0].sidecar is not None
    reasons = {s.source: s.reason for s in skipped}
    assert "broken symbolic link" in reasons["dangling.txt"]
    assert "no article of the same name" in reasons["renamed.meta.json"]
    assert "kept.meta.json" not in reasons and "report.meta.json" not in reasons


def test_hidden_and_unsupported_files_are_ignored(tmp_path):
    (tmp_path / ".draft.txt").write_text("Hidden draft.")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    (tmp_path / "notes.md").write_text("# Notes\n\nReal text here.")
    files, skipped, other = discover(tmp_path, Settings())
    assert [f.source for f in files] == ["notes.md"]
    assert skipped == [] and other == ["photo.jpg"]  # hidden files are not even mentioned


def test_html_drops_scripts_and_styles(tmp_path):
    (tmp_path / "page.html").write_text(
        "<html><head><title>Harbour news</title><style>p{color:red}</style></head><body>"
        "<script>alert('x')</script><h1>Harbour reopens</h1><p>The harbour <b>reopened</b> on Monday.</p>"
        "<p>Ships returned at dawn.</p><!-- a comment --></body></html>",
        encoding="utf-8",
    )
    doc = _load_one(tmp_path, "page.html")[0].document
    assert doc.title == "Harbour news"
    assert "alert" not in doc.text and "color" not in doc.text and "comment" not in doc.text
    assert "The harbour reopened on Monday." in doc.text
    assert "Ships returned at dawn." in doc.text


def test_markdown_front_matter_title(tmp_path):
    (tmp_path / "post.md").write_text(
        "---\ntitle: Tide tables\nauthor: A. B.\n---\n# Heading\n\nHigh tide is at noon.\n"
    )
    doc = _load_one(tmp_path, "post.md")[0].document
    assert doc.title == "Tide tables"
    assert doc.text.startswith("# Heading")


def test_markdown_heading_title(tmp_path):
    (tmp_path / "post.md").write_text("# The tide report\n\nHigh tide is at noon.\n")
    assert _load_one(tmp_path, "post.md")[0].document.title == "The tide report"


def test_pdf_text_layer(tmp_path):
    fpdf = pytest.importorskip("fpdf")
    pdf = fpdf.FPDF()
    pdf.set_title("Lighthouse report")
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, "The lighthouse keeper retired in 1998. The light was automated the same year.")
    pdf.output(str(tmp_path / "report.pdf"))
    doc = _load_one(tmp_path, "report.pdf")[0].document
    assert doc.title == "Lighthouse report"
    assert "The lighthouse keeper retired in 1998." in doc.text


def test_broken_pdf_is_skipped(tmp_path):
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\n this is not really a pdf")
    loaded, _ = _load_one(tmp_path, "broken.pdf")
    assert loaded.document is None and "PDF" in loaded.skipped.reason


def _word_file(path, title="Harbour board minutes"):
    import docx

    doc = docx.Document()
    doc.core_properties.title = title
    doc.add_heading("Minutes of the March meeting", level=1)
    doc.add_paragraph("The board met on 4 March. The harbour master reported that dredging will start in May.")
    table = doc.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Berth", "Fee"
    table.cell(1, 0).text, table.cell(1, 1).text = "North quay", "£120 a night"
    doc.add_paragraph("The lighthouse will be fully automated by the end of the year.")
    doc.save(str(path))


def test_word_files_are_read_in_order_with_their_title(tmp_path):
    _word_file(tmp_path / "minutes.docx")
    doc = _load_one(tmp_path, "minutes.docx")[0].document
    assert doc.title == "Harbour board minutes"
    parts = [
        "Minutes of the March meeting",
        "dredging will start in May.",
        "North quay | £120 a night",
        "fully automated",
    ]
    at = [doc.text.index(p) for p in parts]
    assert at == sorted(at)  # paragraphs and tables in document order


def test_corrupt_and_password_protected_word_files_are_skipped_by_name(tmp_path):
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 this is not really a zip")
    (tmp_path / "locked.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    broken = _load_one(tmp_path, "broken.docx")[0]
    locked = _load_one(tmp_path, "locked.docx")[0]
    assert broken.document is None and "not a readable Word file" in broken.skipped.reason
    assert locked.document is None and "password-protected" in locked.skipped.reason
    assert broken.skipped.source == "broken.docx" and locked.skipped.source == "locked.docx"


def test_a_word_article_is_indexed_and_quoted_verbatim(tmp_path, settings, embedder):
    from qa import QA
    from qa.indexing.indexer import Indexer

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _word_file(corpus / "minutes.docx")
    Indexer(settings, embedder).build(corpus, tmp_path / "index", progress=False)
    qa = QA.load(tmp_path / "index", settings=settings, embedder=embedder)
    answer = qa.ask("When will the dredging start?")
    assert not answer.refused and answer.citations[0].source == "minutes.docx"
    c = answer.citations[0]
    text = qa.snapshot.document_by_source("minutes.docx")[2]
    assert text[c.start : c.end] == c.quote and "dredging will start in May" in c.quote


def test_file_name_title_fallback(tmp_path):
    (tmp_path / "harbour_master-interview.txt").write_text("We spoke to the harbour master about the storm.")
    assert _load_one(tmp_path, "harbour_master-interview.txt")[0].document.title == "harbour master interview"


def test_crlf_is_normalised(tmp_path):
    (tmp_path / "win.txt").write_bytes(b"Title line\r\n\r\nBody sentence one. Body two.\r\n")
    doc = _load_one(tmp_path, "win.txt")[0].document
    assert "\r" not in doc.text and doc.title == "Title line"


@pytest.mark.parametrize(
    ("sidecar", "note"),
    [
        ('{"title": 42, "publisher": "Gazette"}', "title ignored"),
        ('{"title": "   "}', "title ignored"),
        ("{not json", "not valid JSON"),
        ('["a list"]', "JSON object"),
    ],
)
def test_a_broken_sidecar_is_noted_and_the_article_kept(tmp_path, sidecar, note):
    (tmp_path / "tide_report.txt").write_text("The tide came in early. Boats were moved.")
    (tmp_path / "tide_report.meta.json").write_text(sidecar)
    loaded, skipped = _load_one(tmp_path, "tide_report.txt")
    assert skipped == [] and loaded.skipped is None
    assert loaded.document.title == "tide report"  # from the file name, as without a sidecar
    assert any("tide_report.meta.json" in n and note in n for n in loaded.notes), loaded.notes


def test_uploads_that_indexing_would_skip_are_refused(tmp_path):
    from qa.ingestion.files import add_file

    settings = Settings(max_file_bytes=10_000)
    for name, data, reason in [
        ("photo.txt", bytes(range(256)) * 4, "binary"),
        ("broken.pdf", b"%PDF-1.4\n this is not really a pdf", "PDF"),
        ("empty.md", b"  \n\n", "empty"),
        ("big.txt", b"word " * 3000, "larger than the 10 KB limit"),
        ("notes.odt", b"PK\x03\x04", "only .txt"),
        ("notes.docx", b"PK\x03\x04", "not a readable Word file"),
    ]:
        added = add_file(tmp_path, name, data, settings)
        assert added.source is None and reason in added.message, (name, added.message)
    assert list(tmp_path.iterdir()) == []
    added = add_file(tmp_path, "fine.txt", b"A real article. With two sentences.", settings)
    assert added.source == "fine.txt"


def _damaged_word_file(path):
    """A Word file whose document part is cut in half: the zip is fine, its XML is not."""
    import zipfile

    _word_file(path.with_name("whole.docx"))
    with zipfile.ZipFile(path.with_name("whole.docx")) as src, zipfile.ZipFile(path, "w") as out:
        for item in src.infolist():
            data = src.read(item)
            out.writestr(item, data[: len(data) // 2] if item.filename == "word/document.xml" else data)
    path.with_name("whole.docx").unlink()


def test_whatever_a_damaged_file_makes_its_parser_raise_it_is_skipped_by_name(tmp_path):
    # lxml, pypdf and BeautifulSoup each raise their own errors on damaged files; one bad
    # article must never stop a build.
    _damaged_word_file(tmp_path / "cut.docx")
    loaded = _load_one(tmp_path, "cut.docx")[0]
    assert loaded.document is None and loaded.skipped.source == "cut.docx"
    assert "not a readable DOCX file (XMLSyntaxError" in loaded.skipped.reason
    fpdf = pytest.importorskip("fpdf")
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, "The lighthouse keeper retired in 1998.")
    data = bytes(pdf.output())
    assert b"/FlateDecode" in data
    (tmp_path / "filter.pdf").write_bytes(data.replace(b"/FlateDecode", b"/XlateDecode"))
    loaded = _load_one(tmp_path, "filter.pdf")[0]
    assert loaded.document is None and "not a readable PDF file (NotImplementedError" in loaded.skipped.reason


def test_html_that_never_closes_its_paragraphs_is_read_whole(tmp_path):
    # Leaving </p> out is valid HTML; a thousand open paragraphs nest a thousand deep.
    items = "".join(f"<p>Item {i}: the committee approved the budget." for i in range(1000))
    (tmp_path / "minutes.html").write_text(f"<html><body>{items}</body></html>")
    doc = _load_one(tmp_path, "minutes.html")[0].document
    assert doc.text.count("the committee approved the budget.") == 1000
    assert doc.text.startswith("Item 0: the committee") and doc.text.endswith(
        "Item 999: the committee approved the budget."
    )


def test_nul_characters_past_the_first_bytes_are_removed_and_noted(tmp_path):
    # What a file zero-filled after a crash looks like: text, then NULs, then text again.
    prose = "The miller ground the wheat by the river. " * 220
    (tmp_path / "mill.txt").write_text(prose + "\x00\x00\x00 The mill closed in 1950.")
    loaded = _load_one(tmp_path, "mill.txt")[0]
    assert "\x00" not in loaded.document.text and loaded.document.text.endswith("  The mill closed in 1950.")
    assert any("3 NUL character(s) removed" in n for n in loaded.notes)


def test_links_that_loop_folders_named_as_articles_and_undecodable_names_are_skipped(tmp_path):
    (tmp_path / "kept.txt").write_text("An article that stays. It has two sentences.")
    os.symlink("loop2.txt", tmp_path / "loop1.txt")
    os.symlink("loop1.txt", tmp_path / "loop2.txt")
    (tmp_path / "sub").mkdir()
    os.symlink("sub", tmp_path / "folder.txt")
    (tmp_path / os.fsdecode(b"caf\xe9.txt")).write_text("A Latin-1 file name. Not UTF-8.")
    files, skipped, _ = discover(tmp_path, Settings())
    assert [f.source for f in files] == ["kept.txt"]
    reasons = {s.source: s.reason for s in skipped}
    assert reasons["loop1.txt"] == reasons["loop2.txt"] == "broken symbolic link: a loop"
    assert reasons["folder.txt"] == "not a regular file"
    assert reasons["caf\ufffd.txt"] == "file name is not valid UTF-8: rename it"
    # The watcher's path looks only at what changed, and says the same.
    files, skipped, _ = discover(tmp_path, Settings(), only=["loop1.txt", "folder.txt"])
    assert files == [] and {s.reason for s in skipped} == {"broken symbolic link: a loop", "not a regular file"}


def test_an_upload_is_saved_beside_a_broken_link_and_a_damaged_file_is_refused(tmp_path):
    from qa.ingestion.files import add_file

    os.symlink(tmp_path / "nowhere.txt", tmp_path / "dangling.txt")
    added = add_file(tmp_path, "fine.txt", b"A real article. With two sentences.", Settings())
    assert added.source == "fine.txt", added.message
    _damaged_word_file(tmp_path.parent / "cut.docx")
    added = add_file(tmp_path, "cut.docx", (tmp_path.parent / "cut.docx").read_bytes(), Settings())
    assert added.source is None and "not a readable DOCX file" in added.message
