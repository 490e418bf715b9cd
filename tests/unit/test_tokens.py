"""Token inspection with the real SmolLM2 tokenizer."""

from __future__ import annotations

import pytest

from tests.models import smol_tokenizer
from workbench.engine.textstream import TextStream
from workbench.engine.tokens import TokenTable, describe_ids, parse_ids, search_vocab, tokenize
from workbench.safetext import safe_line, safe_text


@pytest.fixture(scope="module")
def table():
    return TokenTable(smol_tokenizer())


def test_good_at_the_start_and_after_a_space_are_different_tokens(table):
    morning = tokenize(table, "good morning")
    am_good = tokenize(table, "i am good")
    assert morning.spans[0].label == "good"
    assert am_good.spans[-1].label == "␣good"
    assert morning.spans[0].token_id != am_good.spans[-1].token_id
    assert table.info(am_good.spans[-1].token_id).text == " good"


def test_offsets_point_back_into_the_text(table):
    text = "Hello, world!\nBye"
    result = tokenize(table, text)
    assert "".join(text[s.start : s.end] for s in result.spans) == text
    assert any(s.label == "↵" or s.label.startswith("↵") for s in result.spans)
    assert result.chars_per_token == pytest.approx(len(text) / len(result.spans))


def test_byte_pieces_and_special_tokens_are_distinguishable(table):
    ids = smol_tokenizer().encode("🤗", add_special_tokens=False)
    infos = [table.info(i) for i in ids]
    assert any(info.kind == "bytes" for info in infos)
    assert all("<0x" in info.label for info in infos if info.kind == "bytes")
    im_end = smol_tokenizer().convert_tokens_to_ids("<|im_end|>")
    assert table.kind(im_end) == "special"
    assert table.label(im_end) == "<|im_end|>"
    assert describe_ids(table, [im_end])[0].kind == "special"


def test_labels_never_carry_control_characters(table):
    escape_id = smol_tokenizer().encode("\x1b", add_special_tokens=False)[0]
    label = table.label(escape_id)
    assert "\x1b" not in label
    assert label == "␛"


def test_vocabulary_search_by_substring_regex_and_id(table):
    good_id = tokenize(table, "i am good").spans[-1].token_id
    assert good_id in list(search_vocab(table, " good"))
    assert good_id in list(search_vocab(table, r"^ goo\w$", mode="regex"))
    assert list(search_vocab(table, "100-103", mode="id")) == [100, 101, 102, 103]
    assert len(list(search_vocab(table, "e", limit=5))) == 5
    with pytest.raises(ValueError, match="regular expression"):
        list(search_vocab(table, "(", mode="regex"))
    assert table.size == 49152


def test_parse_ids():
    assert parse_ids("[1, 42 9690]") == [1, 42, 9690]
    with pytest.raises(ValueError, match="'x1'"):
        parse_ids("1 x1")


def test_text_stream_holds_split_characters_back():
    tokenizer = smol_tokenizer()
    ids = tokenizer.encode("héllo 🤗 world 日本", add_special_tokens=False)
    stream = TextStream(tokenizer)
    pieces = [stream.step(i) for i in ids]
    assert "".join(pieces) == "héllo 🤗 world 日本"
    assert "\ufffd" not in "".join(pieces)
    assert "" in pieces  # some byte tokens complete nothing on their own


def test_text_stream_flushes_an_incomplete_character_as_replacement():
    tokenizer = smol_tokenizer()
    ids = tokenizer.encode(" 🤗", add_special_tokens=False)
    stream = TextStream(tokenizer)
    assert stream.step(ids[0]) == ""
    assert "\ufffd" in stream.flush()


@pytest.mark.parametrize(
    "raw",
    ["[bold]x[/]", "[link=x]y", "\x1b[2J", "\x1b]52;c;SGVsbG8=\x07", "a\rb", "\ud800", "\x9b31m", "\x00\x7f"],
)
def test_safe_text_leaves_no_control_characters(raw):
    out = safe_text(raw)
    assert not any(ord(c) < 32 and c not in "\n\t" for c in out)
    assert not any(0x7F <= ord(c) <= 0x9F for c in out)
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in out)
    out.encode("utf-8")  # always encodable
    if "[" in raw:
        assert "[" in out  # markup is left as literal text (escaping is the widget's job)


def test_safe_line_shows_newlines():
    assert safe_line("a\nb\tc") == "a↵b⇥c"


def test_a_no_break_space_token_is_visible() -> None:
    from workbench.engine.tokens import bytes_label

    assert bytes_label("\u00a0".encode()) == "\u237d"  # was an invisible label in the lens grid
