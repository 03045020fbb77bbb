"""What the model sees of a message: character n-grams of the matcher's normalised text.

    X = vectorise(["ТЦК пакують біля метро", "Гарний захід сонця"])   # sparse, one row per text

Character n-grams within words (2–5 letters, scikit-learn's `char_wb`) catch what word lists
miss: misspellings, word endings, acronyms glued to words («ртцк»), transliteration. The text is
normalised exactly as the rules see it, so a disguise undone for the rules is undone for the
model. Hashing keeps the vectoriser stateless: no vocabulary needs to be stored or trusted.

Speed: `char_wb` n-grams never cross a word, so a text's counts are the sum of its words'.
scikit-learn's analyser runs in Python per n-gram (about 300 µs for a 200-character message);
asking it once per distinct word and remembering the hashed columns gives the same matrix,
exactly, about twenty times faster, since chat messages reuse the same words all day.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import HashingVectorizer

from bot.matching import normalise

N_FEATURES = 2 ** 18
NGRAMS = (2, 5)
CACHED_WORDS = 50_000  # about 8 MB of remembered columns; forgotten all at once when full

_RAW = HashingVectorizer(analyzer="char_wb", ngram_range=NGRAMS, n_features=N_FEATURES,
                         alternate_sign=False, norm=None, lowercase=False, dtype=np.float32)
_columns: dict[str, bytes] = {}


def prepare(text: str) -> str:
    return normalise(text or "").text


def counts(texts: list[str]) -> csr_matrix:
    """scikit-learn's own char_wb n-gram counts of normalised texts, unscaled (for checking)."""
    return _RAW.transform(texts)


def vectorise(texts: list[str], normalised: bool = False) -> csr_matrix:
    """A CSR matrix (len(texts) × N_FEATURES), float32: n-gram counts divided by √(n-grams in
    the text). That is the L2 norm when no n-gram repeats, the usual case, and needs no sort of
    the columns, which would cost more than everything else here; an n-gram occurring twice
    appears as two entries, which sparse products and sums count correctly."""
    if not normalised:
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
    """The hashed columns of one word's n-grams, each repeated as often as the n-gram occurs."""
    row = _RAW.transform([word])
    found = np.repeat(row.indices, row.data.astype(np.int64)).astype("<i4").tobytes()
    if len(_columns) >= CACHED_WORDS:
        _columns.clear()
    _columns[word] = found
    return found


def describe() -> dict:
    """The feature settings recorded in the model file; a file made with others is refused."""
    return {"analyzer": "char_wb", "ngrams": list(NGRAMS), "n_features": N_FEATURES, "scale": "1/sqrt(ngrams)",
            "text": "bot.matching.normalise"}
