"""A learned second opinion beside the keyword rules: character n-grams and a linear model per
topic (scikit-learn), shipped trained in model.npz and reproduced by `dozor keywords train`.

    from bot.classifier import Classifier, ModelError
    classifier = Classifier.load(SHIPPED_MODEL)
    [result] = classifier.second_opinion([(text, match(rules, text))])
    result.topics, result.review, result.opinions[0].like

features.py (what the model sees), examples.py (labelled data), train.py (fitting and
thresholds), modelfile.py (the file format), classifier.py (prediction and explanations).
"""
import logging
from pathlib import Path

from bot.classifier.classifier import Classifier
from bot.classifier.modelfile import ModelError

log = logging.getLogger("dozor.model")

SHIPPED_MODEL = Path(__file__).with_name("model.npz")


def model_path(setting: str) -> Path | None:
    """DOZOR_MODEL as a file: "shipped" → the packaged model, "off" → None."""
    if setting == "off":
        return None
    return SHIPPED_MODEL if setting == "shipped" else Path(setting)


def load_classifier(setting: str) -> Classifier | None:
    """The model DOZOR_MODEL names, or None when it is off; ModelError naming the file."""
    path = model_path(setting)
    return None if path is None else Classifier.load(path)


def second_opinion(setting: str) -> Classifier | None:
    """For the service: the model, or None with the reason logged. A broken model file must
    not stop the service: the rules, the primary layer, keep working without it."""
    try:
        classifier = load_classifier(setting)
    except ModelError as error:
        log.error("model not loaded, matching with the rules only: %s", error)
        return None
    if classifier is not None:
        log.info("model %s: topics %s", classifier.path, ", ".join(classifier.topics))
    return classifier


__all__ = ["Classifier", "ModelError", "SHIPPED_MODEL", "load_classifier", "model_path", "second_opinion"]
