import pytest

from trainer.taste.mood import PostMoodClassifier
from trainer.taste.mood.corpora import read_split
from trainer.taste.mood.scoring import evaluate_posts


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


def test_nlpcc_held_out_half(clf, shared_data):
    posts = read_split(shared_data / "nlpcc2014_weibo_emotion", "test")
    result = evaluate_posts(clf, [p.mood for p in posts], [p.text for p in posts])
    assert result["precision"] >= 0.72  # 0.764 with the shipped model
    assert result["macro_f1_no_threshold"] >= 0.60  # 0.623; the old lexicon model: 0.617


def test_nlpcc_fit_and_test_rows_never_overlap(shared_data):
    nlpcc = shared_data / "nlpcc2014_weibo_emotion"
    fit, test, every = (read_split(nlpcc, s) for s in ("fit", "test", "all"))
    assert not {p.id for p in fit} & {p.id for p in test}
    assert len(fit) + len(test) == len(every)
    with pytest.raises(ValueError, match="unknown NLPCC split"):
        read_split(nlpcc, "train")
