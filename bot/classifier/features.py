"""What the model sees of a message: character n-grams of its casefolded text.

    X = vectorise(["ТЦК пакують біля метро", "Гарний захід сонця"])   # Rows: sparse, one per text
    X.dot(weights)                                                    # len(texts) × topics

Character n-grams within words (2–5 letters, scikit-learn's `char_wb`) catch what word lists
miss: misspellings, word endings, acronyms glued to words («ртцк»), transliteration. The text is
only casefolded: the matcher's full normalisation (undoing look-alike letters and dotted
acronyms) cost half the model's time for no measurable gain (bench/eval_model.py, same
micro-F1 with both), and disguised keywords are the rules' job, which do undo them.
Hashing keeps the vectoriser stateless: no vocabulary needs to be stored or trusted.

Speed and memory: `char_wb` n-grams never cross a word, so a text's counts are the sum of its
words'. Each distinct word's hashed columns are computed once and remembered, since chat messages
reuse the same words all day; that is about forty times faster than scikit-learn's analyser,
which runs in Python per n-gram. The service imports neither scikit-learn nor scipy: importing
them costs about 100 MB of resident memory, twice the model's budget. So the columns are computed
here exactly as its HashingVectorizer(analyzer="char_wb", alternate_sign=False) does, with the
same MurmurHash3 (mmh3), and tests/test_model.py checks the two agree; rows are plain numpy
arrays. Training uses scikit-learn.
"""
from __future__ import annotations

from dataclasses import dataclass

import mmh3
import numpy as np

N_FEATURES = 2 ** 18
NGRAMS = (2, 5)
CACHED_WORDS = 30_000  # about 5 MB of remembered columns; forgotten all at once when full

_columns: dict[str, bytes] = {}


def prepare(text: str) -> str:
    return (text or "").casefold()


def counts(texts: list[str]):
    """scikit-learn's own char_wb n-gram counts of prepared texts, unscaled (for checking)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(analyzer="char_wb", ngram_range=NGRAMS, n_features=N_FEATURES,
                             alternate_sign=False, norm=None, lowercase=False,
                             dtype=np.float32).transform(texts)


@dataclass(frozen=True, slots=True)
class Rows:
    """Texts as sparse rows, in plain numpy arrays: row r holds the columns
    indices[indptr[r]:indptr[r + 1]], each with the value scale[r] (one entry per n-gram
    occurrence, so a repeated n-gram counts twice in every sum and product)."""

    indices: np.ndarray  # int32
    indptr: np.ndarray  # int64, len(texts) + 1
    scale: np.ndarray  # float32, 1/√(n-grams) of each text

    def __len__(self) -> int:
        return len(self.scale)

    def row_of_entries(self) -> np.ndarray:
        return np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.indptr))

    def values(self) -> np.ndarray:
        return np.repeat(self.scale, np.diff(self.indptr))

    def dot(self, weights: np.ndarray) -> np.ndarray:
        """len(texts) × weights.shape[1]: each row's sum of its columns' weights, scaled."""
        out = np.zeros((len(self), weights.shape[1]), dtype=np.float32)
        if not len(self.indices):
            return out
        lengths = np.diff(self.indptr)
        filled = lengths > 0
        # reduceat sums each row's run of entries; empty rows (no words) stay zero
        # np.take: four times faster than fancy indexing for this gather
        out[filled] = np.add.reduceat(np.take(weights, self.indices, axis=0), self.indptr[:-1][filled], axis=0)
        return out * self.scale[:, None]

    def row(self, r: int) -> np.ndarray:
        return self.indices[self.indptr[r]:self.indptr[r + 1]]

    def matrix(self):
        """As a scipy CSR matrix (for training; the service never needs scipy)."""
        from scipy.sparse import csr_matrix

        return csr_matrix((self.values(), self.indices, self.indptr), shape=(len(self), N_FEATURES))


def vectorise(texts: list[str], prepared: bool = False) -> Rows:
    """The texts' n-gram counts divided by √(n-grams in the text): the L2 norm when no n-gram
    repeats, the usual case, without sorting the columns, which would cost more than all the
    rest here."""
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
    scale = (1.0 / np.sqrt(np.maximum(np.diff(bounds), 1))).astype(np.float32)
    return Rows(indices, bounds, scale)


class Neighbours:
    """Similarity of texts to a fixed set of examples (dot products of their rows), kept as an
    inverted index: for every column, which examples have it and with what value."""

    def __init__(self, rows: Rows):
        order = np.argsort(rows.indices, kind="stable")
        self.columns = rows.indices[order]
        self.owner = rows.row_of_entries()[order]
        self.value = rows.values()[order]
        self.count = len(rows)

    def similarity(self, rows: Rows, r: int) -> np.ndarray:
        """Row r of `rows` against every example."""
        query = rows.row(r)
        lo = np.searchsorted(self.columns, query, "left")
        hi = np.searchsorted(self.columns, query, "right")
        lengths = hi - lo
        total = int(lengths.sum())
        if not total:
            return np.zeros(self.count)
        # every entry of every matching column, as one flat index
        starts = np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
        return np.bincount(self.owner[starts], weights=self.value[starts], minlength=self.count) * rows.scale[r]


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
