from pathlib import Path

import pytest

from trainer.taste.mood import PostMoodClassifier
from trainer.taste.mood.nlpcc import evaluate_nlpcc, read_split

NLPCC = Path(__file__).parent.parent.parent / "shared" / "data" / "nlpcc2014_weibo_emotion"


@pytest.fixture(scope="module")
def clf():
    return PostMoodClassifier()


def test_clear_cases(clf):
    assert clf.classify("今天太开心了[哈哈][哈哈]").mood == "happy"
    assert clf.classify("好难过，好伤心[泪][泪]").mood == "sad"
    assert clf.classify("气死我了[怒][怒]").mood == "angry"
    assert clf.classify("明天上午开会").mood in (None, "neutral")  # never an emotion
    english = clf.classify("I am so happy and joyful, what a wonderful day")
    assert english.language == "en" and english.mood == "happy"
    assert clf.classify("I hate this, I am so angry and furious").mood == "angry"


@pytest.mark.skipif(not NLPCC.exists(), reason="../shared/data not available")
def test_nlpcc_precision(clf):
    result = evaluate_nlpcc(NLPCC, clf, split="test")
    assert result["emotional_precision"] >= 0.70  # 0.741 with the shipped weights
    assert result["emotional_assigned"] > 1500 and result["macro_f1"] > 0.45


@pytest.mark.skipif(not NLPCC.exists(), reason="../shared/data not available")
def test_nlpcc_fit_and_test_rows_never_overlap():
    fit, test, every = (read_split(NLPCC, s) for s in ("fit", "test", "all"))
    assert not {p.id for p in fit} & {p.id for p in test}
    assert len(fit) + len(test) == len(every)
    with pytest.raises(ValueError, match="unknown NLPCC split"):
        read_split(NLPCC, "train")
