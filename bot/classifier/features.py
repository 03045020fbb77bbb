"""What the model sees of a message: character n-grams of its casefolded text.

    X = vectorise(["ТЦК пакують біля метро", "Гарний захід сонця"])   # sparse, one row per text

Character n-grams within words (2–5 letters, scikit-learn's `char_wb`) catch what word lists
miss: misspellings, word endings, acronyms glued to words («ртцк»), transliteration. The text is
only casefolded: the matcher's full normalisation (undoing look-alike letters and dotted
acronyms) cost half the model's time for no measurable gain (bench/eval_model.py, same
micro-F1 with both), and disguised keywords are the rules' job, which do undo them.
Hashing keeps the vectoriser stateless: no vocabulary needs to be stored or trusted.

Speed and memory: `char_wb` n-grams never cross a word, so a text's counts are the sum of its
words'. Each distinct word's hashed columns are computed once and remembered, since chat messages
reuse the same words all day; that is about forty times faster than scikit-learn's analyser,
which runs in Python per n-gram. The service does not import scikit-learn at all: importing it
costs about 100 MB of resident memory, twice the model's budget. So the columns are computed here
exactly as its HashingVectorizer(analyzer="char_wb", alternate_sign=False) does, with the same
MurmurHash3 (mmh3), and tests/test_model.py checks the two agree; training uses scikit-learn.
"""
from __future__ import annotations


import mmh3
import numpy as np
from scipy.sparse import csr_matrix

N_FEATURES = 2 ** 18
NGRAMS = (2, 5)
CACHED_WORDS = 30_000  # about 5 MB of remembered columns; forgotten all at once when full

_columns: dict[str, bytes] = {}


def prepare(text: str) -> str:
    return (text or "").casefold()


def counts(texts: list[str]) -> csr_matrix:
    """scikit-learn's own char_wb n-gram counts of prepared texts, unscaled (for checking)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(analyzer="char_wb", ngram_range=NGRAMS, n_features=N_FEATURES,
                             alternate_sign=False, norm=None, lowercase=False,
                             dtype=np.float32).transform(texts)


def vectorise(texts: list[str], prepared: bool = False) -> csr_matrix:
    """A CSR matrix (len(texts) × N_FEATURES), float32: n-gram counts divided by √(n-grams in
    the text). That is the L2 norm when no n-gram repeats, the usual case, and needs no sort of
    the columns, which would cost more than everything else here; an n-gram occurring twice
    appears as two entries, which sparse products and sums count correctly."""
    if not prepared:
        texts = [prepare(t) for t in texts]
    columns = _columns
    pieces: list[bytes] = []
    indptr = [0]
    size = 0
    for text in texts:
        for word in text.split():
            found = columns.get(word)
            if found is None:
                found = _word_columns(word)
            pieces.append(found)
            size += len(found)
        indptr.append(size // 4)
    indices = np.frombuffer(b"".join(pieces), dtype="<i4").astype(np.int32)
    bounds = np.array(indptr, dtype=np.int64)
    lengths = np.diff(bounds)
    scale = (1.0 / np.sqrt(np.maximum(lengths, 1))).astype(np.float32)
    return csr_matrix((np.repeat(scale, lengths), indices, bounds), shape=(len(texts), N_FEATURES))


def _word_columns(word: str) -> bytes:
    """The hashed columns of one word's n-grams, one entry per occurrence, as scikit-learn's
    char_wb analyser and FeatureHasher make them (padded with a space on each side; a word
    shorter than n gives one n-gram, itself)."""
    padded = f" {word} "
    length = len(padded)
    found = []
    for n in range(NGRAMS[0], NGRAMS[1] + 1):
        for offset in range(max(1, length - n + 1)):
            found.append(abs(mmh3.hash(padded[offset: offset + n].encode("utf-8"), 0, signed=True)) % N_FEATURES)
        if length <= n:
            break
    packed = np.array(found, dtype="<i4").tobytes()
    if len(_columns) >= CACHED_WORDS:
        _columns.clear()
    _columns[word] = packed
    return packed


def describe() -> dict:
    """The feature settings recorded in the model file; a file made with others is refused."""
    return {"analyzer": "char_wb", "ngrams": list(NGRAMS), "n_features": N_FEATURES, "scale": "1/sqrt(ngrams)",
            "text": "casefold"}
