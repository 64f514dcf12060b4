"""Text -> TF-IDF n-gram features -> four mood probabilities, one linear model per language.

Chinese posts (Weibo, and Chinese mixed with English words) are read as character
1-3-grams: no segmenter is needed, and emoticons such as ``[泪]`` and English words inside
a Chinese post become n-grams like any other. English posts are read as word 1-2-grams
plus character 3-4-grams within words (spelling variants, "sooo"). The measured choices
are in docs/post-mood.md, "The model" ("Choices" and "Language routing"). A model is
scikit-learn's ``TfidfVectorizer`` per block (its vocabulary and IDF) and one-vs-rest
logistic weights, stored as plain arrays (``save_models``/``load_models``), never pickled.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from device.shared.errors import UserError
from device.shared.moods import MOODS

CLASSES: tuple[str, ...] = MOODS
_NOISE = re.compile(r"https?://\S+|//@[^:：\s]{1,30}[:：]|@[^\s:：,，@]{1,30}")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z']+")
_WORD = r"(?u)\b\w[\w']*\b|[!?]"


@dataclass(frozen=True)
class Block:
    """One TF-IDF vectoriser's settings: ``analyzer`` is scikit-learn's (char, char_wb,
    word), ``ngrams`` its n-gram range and ``min_df`` the fewest posts an n-gram needs."""

    analyzer: str
    ngrams: tuple[int, int]
    min_df: int = 2

    def vectoriser(self, vocabulary: dict[str, int] | None = None) -> TfidfVectorizer:
        return TfidfVectorizer(
            analyzer=self.analyzer, ngram_range=self.ngrams, min_df=self.min_df,
            sublinear_tf=True, dtype=np.float32, vocabulary=vocabulary,
            token_pattern=_WORD if self.analyzer == "word" else None,
        )  # fmt: skip


BLOCKS: dict[str, tuple[Block, ...]] = {
    "zh": (Block("char", (1, 3), 3),),
    "en": (Block("word", (1, 2), 2), Block("char_wb", (3, 4), 3)),
}


def normalise(text: str) -> str:
    """Lower case, without links and @names (a repost chain's ``//@name:`` too): they
    name people and pages, not moods, and would tie the model to one site's users."""
    return " ".join(_NOISE.sub(" ", text).lower().split())


def language(text: str) -> str:
    """``zh`` when Han characters outnumber Latin words (code-switched Weibo posts are
    mostly Chinese with English words), ``en`` for Latin text, else ``unknown``. A
    character count, not a language detector: it keeps 10k+ posts a second."""
    han = len(_HAN.findall(text))
    latin = len(_LATIN_WORD.findall(text))
    if han >= 2 and han >= latin:
        return "zh"
    if latin:
        return "en"
    return "zh" if han else "unknown"


@dataclass
class LanguageModel:
    """The fitted vectorisers of one language and its (classes x features) weights."""

    blocks: tuple[Block, ...]
    vectorisers: list[TfidfVectorizer]
    coef: np.ndarray  # (4, features) float32
    intercept: np.ndarray  # (4,)

    def transform(self, texts: list[str]) -> sparse.csr_matrix:
        clean = [normalise(t) for t in texts]
        return sparse.hstack([tfidf(v, clean) for v in self.vectorisers]).tocsr()

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """(posts, 4): one-vs-rest logistic scores normalised to sum to one."""
        if not texts:
            return np.zeros((0, len(CLASSES)))
        scores = np.asarray(self.transform(texts) @ self.coef.T) + self.intercept
        p = 1.0 / (1.0 + np.exp(-np.clip(scores, -30, 30)))
        return p / p.sum(axis=1, keepdims=True)


def _char(doc: str, lo: int, hi: int) -> list[str]:
    return [
        doc[i : i + n] for n in range(lo, min(hi, len(doc)) + 1) for i in range(len(doc) - n + 1)
    ]


def _char_wb(doc: str, lo: int, hi: int) -> list[str]:
    out = []
    for word in doc.split():
        w = f" {word} "
        for n in range(lo, hi + 1):
            if len(w) <= n:  # a short word counts once, whole (as scikit-learn does)
                out.append(w)
                break
            out.extend(w[i : i + n] for i in range(len(w) - n + 1))
    return out


def analyzer(v: TfidfVectorizer):
    """``v.build_analyzer()`` for text already through ``normalise`` (lower case, single
    spaces): the same n-grams without its per-post decoding and whitespace pass."""
    lo, hi = v.ngram_range
    if v.analyzer == "char":
        return lambda doc: _char(doc, lo, hi)
    if v.analyzer == "char_wb":
        return lambda doc: _char_wb(doc, lo, hi)
    return v.build_analyzer()


def tfidf(v: TfidfVectorizer, docs: list[str]) -> sparse.csr_matrix:
    """``v.transform(docs)`` for normalised posts, several times faster: scikit-learn counts
    n-grams with a ``KeyError`` per unknown one, and most n-grams of a new post are."""
    analyze, get = analyzer(v), v.vocabulary_.get
    indptr, indices = [0], list[int]()
    for doc in docs:
        indices.extend(i for i in map(get, analyze(doc)) if i is not None)
        indptr.append(len(indices))
    x = sparse.csr_matrix(
        (np.ones(len(indices), dtype=np.float32), np.asarray(indices, dtype=np.int64), indptr),
        shape=(len(docs), len(v.vocabulary_)),
    )
    x.sum_duplicates()
    np.log(x.data, out=x.data)
    x.data += 1.0  # sublinear tf
    x.data *= v.idf_[x.indices]
    return normalize(x, copy=False)


def fit_vectorisers(blocks: tuple[Block, ...], texts: list[str]) -> tuple[list, sparse.csr_matrix]:
    clean = [normalise(t) for t in texts]
    vectorisers = [b.vectoriser() for b in blocks]
    x = sparse.hstack([v.fit_transform(clean) for v in vectorisers]).tocsr()
    return vectorisers, x


def save_models(models: dict[str, LanguageModel], path: Path) -> None:
    """One ``.npz`` of plain arrays: per language and block the vocabulary (in column
    order) and IDF (float16), and the weights as int8 with one scale per mood (what keeps
    the file under 2 MB; docs/post-mood.md, "The model" ("Shipped"), measures what the
    rounding changes)."""
    arrays: dict[str, np.ndarray] = {}
    for lang, m in models.items():
        arrays[f"{lang}/blocks"] = np.array(json.dumps([asdict(b) for b in m.blocks]))
        for i, v in enumerate(m.vectorisers):
            vocab = sorted(v.vocabulary_, key=v.vocabulary_.__getitem__)
            arrays[f"{lang}/{i}/vocabulary"] = np.array(vocab)
            arrays[f"{lang}/{i}/idf"] = v.idf_.astype(np.float16)
        scale = np.maximum(np.abs(m.coef).max(axis=1), 1e-12) / 127.0
        arrays[f"{lang}/coef"] = np.round(m.coef / scale[:, None]).astype(np.int8)
        arrays[f"{lang}/coef_scale"] = scale.astype(np.float32)
        arrays[f"{lang}/intercept"] = m.intercept.astype(np.float32)
    # numpy's stub lets a **dict meet allow_pickle: bool as well as **kwds
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]


def load_models(path: Path) -> dict[str, LanguageModel]:
    """Read ``save_models``' file; a missing, truncated or inconsistent one is a UserError."""
    models = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            for lang in sorted({k.split("/")[0] for k in npz.files}):
                blocks = tuple(
                    Block(b["analyzer"], tuple(b["ngrams"]), b["min_df"])
                    for b in json.loads(str(npz[f"{lang}/blocks"]))
                )
                vectorisers = []
                for i, block in enumerate(blocks):
                    vocab = npz[f"{lang}/{i}/vocabulary"]
                    v = block.vectoriser({str(t): j for j, t in enumerate(vocab)})
                    v.idf_ = npz[f"{lang}/{i}/idf"].astype(np.float32)
                    vectorisers.append(v)
                coef = npz[f"{lang}/coef"].astype(np.float32) * npz[
                    f"{lang}/coef_scale"].astype(np.float32)[:, None]
                width = sum(len(v.vocabulary) for v in vectorisers)
                if coef.shape != (len(CLASSES), width):
                    raise ValueError(f"{lang} weights {coef.shape} for {width} features")
                intercept = npz[f"{lang}/intercept"].astype(np.float32)
                models[lang] = LanguageModel(blocks, vectorisers, coef, intercept)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: not a valid post-mood model: {exc}") from None
    if not models:
        raise UserError(f"{path}: not a valid post-mood model: no language in it")
    return models
