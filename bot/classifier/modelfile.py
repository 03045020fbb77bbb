"""The model file: one .npz holding plain arrays and a JSON description, never a pickle, so
loading it runs no code from the file and needs no trust in whoever made it.

    save(trained, Path("bot/classifier/model.npz"), sets=[...])
    stored = load(Path("bot/classifier/model.npz"))     # ModelError naming the file if unusable

Arrays: `weights_<topic>` as (feature index, value) pairs of the non-zero weights, `bias`, and
`meta` (UTF-8 JSON): format version, feature settings, topics, thresholds, the SHA-256 of the
training data and of each set it came from, and the labelled examples that may be quoted as
explanations (texts from sets kept in the repository; never the archive's, never shared sets).
The zip entries carry a fixed date so that retraining on the same data gives the same bytes.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.classifier.features import N_FEATURES, describe

if TYPE_CHECKING:  # training needs scikit-learn; loading a model must not import it
    from bot.classifier.train import Trained

FORMAT = 1
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class Thresholds:
    found: float  # at or above: the model's hit counts as found
    review: float  # at or above (and below found): worth a human look


class ModelError(Exception):
    """The model file is missing, unreadable or made for other features; names the file."""


@dataclass(slots=True)
class Stored:
    topics: list[str]
    weights: np.ndarray  # N_FEATURES × topics, float32
    bias: np.ndarray
    thresholds: dict[str, Thresholds]
    meta: dict
    neighbours: list[dict]  # {"id", "source", "text", "topics"} of quotable examples


def save(trained: "Trained", path: Path, sets: list[dict], keywords: dict | None = None) -> None:
    """Write atomically (a temporary file renamed over the old one). `keywords`: the keywords
    file (name, sha256) whose rules the thresholds were set beside."""
    neighbours = [{"id": e.id, "source": e.source, "text": e.text, "topics": sorted(e.topics)}
                  for e in trained.examples if e.shown and e.topics]
    meta = {
        "format": FORMAT,
        "features": describe(),
        "topics": trained.topics,
        "thresholds": {t: {"found": th.found, "review": th.review} for t, th in trained.thresholds.items()},
        "training": {"sha256": trained.data_sha256, "examples": len(trained.examples), "sets": sets,
                     "keywords": keywords,
                     "counts": {t: {"positive": p, "negative": n} for t, (p, n) in trained.counts.items()}},
        "neighbours": neighbours,
    }
    arrays = {"bias": trained.bias.astype("<f4"),
              "meta": np.frombuffer(json.dumps(meta, ensure_ascii=False, indent=1, sort_keys=True).encode(),
                                    dtype=np.uint8)}
    for column, topic in enumerate(trained.topics):
        nonzero = np.flatnonzero(trained.weights[:, column]).astype("<i4")
        arrays[f"index_{topic}"] = nonzero
        arrays[f"weight_{topic}"] = trained.weights[nonzero, column].astype("<f4")
    temporary = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, arrays[name], allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())
    temporary.replace(path)


def load(path: Path) -> Stored:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file (train one with `dozor keywords train`, "
                         "or set DOZOR_MODEL=off)") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ModelError(f"{path}: not a readable model file ({error})") from None
    try:
        meta = json.loads(arrays["meta"].tobytes().decode())
        if meta.get("format") != FORMAT:
            raise ModelError(f"{path}: model file format {meta.get('format')!r}, this dozor reads {FORMAT}")
        if meta.get("features") != describe():
            raise ModelError(f"{path}: made for other features ({meta.get('features')}); retrain it")
        topics = list(meta["topics"])
        weights = np.zeros((N_FEATURES, len(topics)), dtype=np.float32)
        for column, topic in enumerate(topics):
            index, values = arrays[f"index_{topic}"], arrays[f"weight_{topic}"]
            if index.shape != values.shape or (len(index) and (index.min() < 0 or index.max() >= N_FEATURES)):
                raise ModelError(f"{path}: weights of topic {topic!r} are malformed")
            weights[index, column] = values
        bias = arrays["bias"].astype(np.float32)
        if bias.shape != (len(topics),):
            raise ModelError(f"{path}: {len(bias)} biases for {len(topics)} topics")
        thresholds = {t: Thresholds(float(meta["thresholds"][t]["found"]), float(meta["thresholds"][t]["review"]))
                      for t in topics}
        neighbours = [{"id": str(n["id"]), "source": str(n["source"]), "text": str(n["text"]),
                       "topics": [str(t) for t in n["topics"]]} for n in meta.get("neighbours", [])]
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError, UnicodeDecodeError) as error:
        raise ModelError(f"{path}: model file is incomplete or malformed ({type(error).__name__}: {error})") from None
    return Stored(topics=topics, weights=weights, bias=bias, thresholds=thresholds, meta=meta,
                  neighbours=neighbours)
