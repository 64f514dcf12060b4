"""Classify a post's mood from emotion words, per language.

Chinese posts are segmented with jieba and matched against the DUTIR affective lexicon
(21 categories, intensity 1-9); English posts against NRC EmoLex; Weibo emoticons ([泪],
[怒] ...) are matched in any language. Degree adverbs (很, 非常, very ...) multiply a word's
intensity; a negation (不, 没有, not ...) among the three preceding words moves the word to a
separate "negated" feature instead of counting for its mood. The per-category evidence is
combined by a small linear (softmax) model with a bag of jieba tokens beside them: the
lexicon alone finds emotion words in only a quarter of Weibo posts and cannot tell a sad
"哭" from a laughing one, so the tokens' weights carry what the lexicon misses. Weights
ship in ``data/weights.csv`` (lexicon features), ``data/tokens.csv`` (tokens) and
``data/classifier.json`` (the confidence threshold), all fitted on the even rows of
NLPCC 2014 only (``fit.py``; the threshold by cross-validation within those rows). A post
whose best mood is less probable than ``min_confidence`` is *unclear* and skipped by the
pipeline (the paper's rule); a post with no evidence at all (no lexicon word, emoticon or
known token) is ``neutral``.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .derive import DUTIR_TO_MOOD

DATA_DIR = Path(__file__).parent / "data"
CLASSES: tuple[str, ...] = ("happy", "sad", "angry", "neutral")
EMOTIONAL = CLASSES[:3]
FEATURES: tuple[str, ...] = (
    *(f"zh:{c}" for c in DUTIR_TO_MOOD),
    *(f"en:{m}" for m in EMOTIONAL),
    *(f"emo:{m}" for m in EMOTIONAL),
    "neg:positive", "neg:negative",
)  # fmt: skip
_EMOTICON = re.compile(r"\[[^\[\]\s]{1,8}\]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[a-z][a-z']+")
_NOISE = re.compile(r"https?://\S+|//@[^:：]+[:：]|[@#][^\s:：,，]+")


@dataclass(frozen=True)
class MoodResult:
    """The mood (None when unclear), the language, and the per-mood probabilities."""

    mood: str | None
    language: str
    probabilities: dict[str, float] = field(default_factory=dict)

    @property
    def clear(self) -> bool:
        return self.mood is not None


@dataclass(frozen=True)
class Lexicon:
    words: dict[str, tuple[str, float]]  # word -> (feature, intensity)
    negations: frozenset[str]
    degrees: dict[str, float]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _modifiers(path: Path) -> tuple[frozenset[str], dict[str, float]]:
    rows = _read_csv(path)
    negations = frozenset(r["word"] for r in rows if r["kind"] == "negation")
    degrees = {r["word"]: float(r["value"]) for r in rows if r["kind"] == "degree"}
    return negations, degrees


def load_chinese(data_dir: Path = DATA_DIR) -> Lexicon:
    rows = _read_csv(data_dir / "zh_dutir.csv")
    words = {r["word"]: (f"zh:{r['category']}", float(r["intensity"])) for r in rows}
    return Lexicon(words, *_modifiers(data_dir / "zh_modifiers.csv"))


def load_english(data_dir: Path = DATA_DIR) -> Lexicon:
    words = {r["word"]: (f"en:{r['mood']}", 5.0) for r in _read_csv(data_dir / "en_nrc.csv")}
    return Lexicon(words, *_modifiers(data_dir / "en_modifiers.csv"))


def load_emoticons(data_dir: Path = DATA_DIR) -> dict[str, str]:
    return {r["emoticon"]: f"emo:{r['mood']}" for r in _read_csv(data_dir / "emoticons.csv")}


def load_weights(path: Path) -> np.ndarray:
    """(1 + features) x classes: row 0 is the bias. Missing features weigh 0."""
    weights = np.zeros((1 + len(FEATURES), len(CLASSES)))
    for row in _read_csv(path):
        name = row["feature"]
        i = 0 if name == "bias" else 1 + FEATURES.index(name) if name in FEATURES else None
        if i is not None:
            weights[i] = [float(row[c]) for c in CLASSES]
    return weights


def load_tokens(path: Path) -> dict[str, np.ndarray]:
    """token -> per-class weight (4,); an absent file means lexicon features only."""
    if not path.exists():
        return {}
    return {r["token"]: np.array([float(r[c]) for c in CLASSES]) for r in _read_csv(path)}


def save_tokens(tokens: dict[str, np.ndarray], path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["token", *CLASSES])
        for token in sorted(tokens):
            writer.writerow([token, *(f"{v:.3f}" for v in tokens[token])])


def shipped_threshold(data_dir: Path = DATA_DIR, default: float = 0.7) -> float:
    """The confidence threshold chosen when the shipped weights were fitted."""
    try:
        return float(json.loads((data_dir / "classifier.json").read_text())["min_confidence"])
    except (OSError, ValueError, KeyError):
        return default


def shipped_confusion(
    min_confidence: float | None = None, data_dir: Path = DATA_DIR
) -> np.ndarray | None:
    """P(classified mood | true mood) (moods x moods, unclear posts left out), cross-validated
    on NLPCC's even rows at the threshold nearest ``min_confidence`` (default: shipped);
    None if ``classifier.json`` has none."""
    try:
        meta = json.loads((data_dir / "classifier.json").read_text())
    except (OSError, ValueError):
        return None
    table = meta.get("confusion_cv") or {}
    if not table:
        return None
    th = meta.get("min_confidence", 0.7) if min_confidence is None else min_confidence
    key = min(table, key=lambda k: abs(float(k) - th))
    counts = np.asarray(table[key], dtype=float)
    return counts[:, : len(CLASSES)] / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)


def save_weights(weights: np.ndarray, path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["feature", *CLASSES])
        for name, row in zip(("bias", *FEATURES), weights, strict=True):
            writer.writerow([name, *(f"{v:.4f}" for v in row)])


def _is_negative(feature: str) -> bool:
    kind, _, name = feature.partition(":")
    mood = DUTIR_TO_MOOD.get(name) if kind == "zh" else name
    return mood in ("sad", "angry")


class PostMoodClassifier:
    """Lexicon features -> softmax over the four moods -> mood or unclear."""

    def __init__(
        self,
        min_confidence: float | None = None,
        data_dir: Path = DATA_DIR,
        weights: np.ndarray | None = None,
        tokens: dict[str, np.ndarray] | None = None,
    ) -> None:
        import jieba

        jieba.setLogLevel(logging.WARNING)  # its dictionary-loading chatter is not news
        if min_confidence is None:
            min_confidence = shipped_threshold(data_dir)
        self.min_confidence = min_confidence
        self.zh = load_chinese(data_dir)
        self.en = load_english(data_dir)
        self.emoticons = load_emoticons(data_dir)
        self.weights = weights if weights is not None else load_weights(data_dir / "weights.csv")
        self.tokens = tokens if tokens is not None else load_tokens(data_dir / "tokens.csv")
        self._index = {f: i for i, f in enumerate(FEATURES)}
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.initialize()
        for word in self.zh.words:
            if 2 <= len(word) <= 4:
                self._tokenizer.add_word(word, freq=1000)

    def language(self, text: str) -> str:
        """'zh', 'en' or another ISO code; Han characters decide quickly, else langdetect."""
        if len(_HAN.findall(text)) >= 2:
            return "zh"
        if not _LATIN_WORD.findall(text.lower()):
            return "unknown"
        from langdetect import DetectorFactory, LangDetectException, detect

        DetectorFactory.seed = 0  # langdetect is random unless seeded
        try:
            return detect(text)
        except LangDetectException:
            return "unknown"

    def _add_words(self, tokens: list[str], lex: Lexicon, sums: np.ndarray) -> None:
        for i, token in enumerate(tokens):
            hit = lex.words.get(token)
            if hit is None:
                continue
            feature, weight = hit
            window = tokens[max(0, i - 3) : i]
            for t in window:
                weight *= lex.degrees.get(t, 1.0)
            if sum(t in lex.negations for t in window) % 2 == 1:
                feature = "neg:negative" if _is_negative(feature) else "neg:positive"
            sums[self._index[feature]] += weight

    def analyse(self, text: str) -> tuple[np.ndarray, frozenset[str], str]:
        """Lexicon features (log1p of summed intensities), the set of tokens (words and
        emoticons, the bag-of-words side) and the detected language."""
        sums = np.zeros(len(FEATURES))
        emoticons = _EMOTICON.findall(text)
        for emoticon in emoticons:
            feature = self.emoticons.get(emoticon.lower())
            if feature:
                sums[self._index[feature]] += 5.0
        body = _EMOTICON.sub(" ", _NOISE.sub(" ", text))
        lang = self.language(body) if body.strip() else "unknown"
        words: list[str] = []
        if lang == "zh":
            words = [t for t in self._tokenizer.lcut(body) if t.strip()]
            self._add_words(words, self.zh, sums)
        elif lang == "en":
            words = _LATIN_WORD.findall(body.lower())
            self._add_words(words, self.en, sums)
        return np.log1p(sums), frozenset(words) | frozenset(emoticons), lang

    def features(self, text: str) -> tuple[np.ndarray, str]:
        """log1p of the summed intensities per lexicon feature, and the detected language."""
        features, _, lang = self.analyse(text)
        return features, lang

    def probabilities(
        self, features: np.ndarray, tokens: frozenset[str] = frozenset()
    ) -> np.ndarray:
        logits = self.weights[0] + features @ self.weights[1:]
        for token in tokens:
            w = self.tokens.get(token)
            if w is not None:
                logits = logits + w
        logits = logits - logits.max()
        exp = np.exp(logits)
        return exp / exp.sum()

    def classify(self, text: str) -> MoodResult:
        features, tokens, lang = self.analyse(text)
        known = frozenset(t for t in tokens if t in self.tokens)
        probs = self.probabilities(features, known)
        named = {c: float(p) for c, p in zip(CLASSES, probs, strict=True)}
        if not features.any() and not known:
            return MoodResult("neutral", lang, named)
        best = int(np.argmax(probs))
        if probs[best] < self.min_confidence or not math.isfinite(probs[best]):
            return MoodResult(None, lang, named)
        return MoodResult(CLASSES[best], lang, named)
