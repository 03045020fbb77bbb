"""Normalisation: one spelling for the tricks chat writers use, with spans back into the original."""
from hypothesis import given, settings, strategies as st

from bot.matching.normalise import MAX_WORD, normalise
from bot.matching.words import tokenise


def test_acronyms_written_with_dots_spaces_or_stars_are_joined():
    assert normalise("Т.Ц.К на виїзді").text == "тцк на виїзді"
    assert normalise("Т. Ц. К. на виїзді").text == "тцк. на виїзді"
    assert normalise("Т Ц К біля ринку").text == "тцк біля ринку"
    assert normalise("Т*Ц*К знову тут").text == "тцк знову тут"


def test_ordinary_one_letter_words_are_not_joined():
    assert normalise("і в з у місті").text == "і в з у місті"
    assert normalise("А І мама").text == "а і мама"
    assert normalise("Т.Ц.К. В Києві").text == "тцк. в києві"


def test_latin_lookalikes_and_digits_inside_cyrillic_words_are_folded():
    assert normalise("TЦK").text == "тцк"
    assert normalise("BOEНKOMAT").text == "военкомат"
    assert normalise("повiстка").text == "повістка"
    assert normalise("в0єнкомат").text == "воєнкомат"
    assert normalise("BOEHKOMAT на Гагарина").text == "военкомат на гагарина"


def test_english_words_and_numbers_stay_as_they_are():
    assert normalise("TCC officers at 10:30").text == "tcc officers at 10:30"
    assert normalise("ТЦК 2024 року").text == "тцк 2024 року"


def test_invisible_characters_apostrophes_yo_and_ghe():
    assert normalise("пов\u00adіст\u200bка").text == "повістка"
    assert normalise("п’ять пʼять п`ять").text == "п'ять п'ять п'ять"
    assert normalise("Ёлка Ґанок").text == "елка ганок"


def test_spans_point_into_the_original_text():
    text = "Увага: Т.Ц.К пов\u00adістки"
    n = normalise(text)
    start = n.text.index("тцк")
    assert n.span(start, start + 3) == (7, 12)
    assert text[slice(*n.span(n.text.index("повістки"), len(n.text)))] == "пов\u00adістки"


clean_words = st.text(alphabet="абвгдежзийклмнопрстуфхцчшщьюяіїєabcdefghijklmnopqrstuvwxyz", min_size=1,
                      max_size=12).filter(lambda w: w.isascii() or not any(c.isascii() for c in w))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_and_is_idempotent(text):
    once = normalise(text).text
    assert normalise(once).text == once


@settings(max_examples=200, deadline=None)
@given(st.lists(clean_words, min_size=1, max_size=8))
def test_clean_lowercase_text_is_unchanged(words):
    text = " ".join(words)
    n = normalise(text)
    assert n.text == text
    assert n.starts is None


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_every_word_span_lies_inside_the_original(text):
    n = normalise(text)
    for token in tokenise(n.text):
        start, end = n.span(token.start, token.end)
        assert 0 <= start <= end <= len(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(clean_words, st.sampled_from(["", "\u200b", "\u00ad", "\ufeff"])), min_size=1, max_size=6))
def test_spans_cover_exactly_the_original_word(pairs):
    # Hide an invisible character inside each word: the span must still cover the whole word.
    hidden = [w[:1] + junk + w[1:] if len(w) > 1 else w for w, junk in pairs]
    text = " ".join(hidden)
    n = normalise(text)
    for token, word in zip(tokenise(n.text), hidden):
        start, end = n.span(token.start, token.end)
        assert text[start:end] == word


def test_a_long_run_without_spaces_is_bounded_work():
    # Issue 9: a run of letters without spaces made the look-alike step scan the rest of the run
    # from every letter. Now a run is folded only up to MAX_WORD letters, whatever its length.
    word = "в0єнкомат"
    assert normalise(word).text == "воєнкомат"
    long_run = "т" * 50_000 + "0т"
    assert normalise(long_run).text == long_run  # longer than any word: left as typed
    assert normalise(long_run + " " + word).text.endswith(" воєнкомат")
    short_run = "т" * (MAX_WORD - 2) + "0т"
    assert normalise(short_run).text == "т" * (MAX_WORD - 2) + "от"
