"""Post mood: corpus readers and label tables, the --posts formats, a small fit that yields a
valid model file, threshold and confusion choice, and the shipped model on clear posts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.post_mood_loco import distant_labels, emoticon_moods, macro_f1, prior_em
from device.shared.errors import UserError
from trainer.cli import main
from trainer.taste.mood import PostMoodClassifier
from trainer.taste.mood.classify import DATA_DIR, META_FILE, shipped_thresholds
from trainer.taste.mood.corpora import (
    GOEMOTIONS_TO_MOOD,
    SMP_TO_MOOD,
    LabelledPost,
    Skipped,
    merge_moods,
    read_codeswitch,
    read_corpus,
    read_emoint,
    read_goemotions,
    read_nlpcc,
    read_smp,
    unsegment,
)
from trainer.taste.mood.features import (
    BLOCKS,
    CLASSES,
    language,
    load_models,
    normalise,
    save_models,
    tfidf,
)
from trainer.taste.mood.fit import choose_threshold, confusion_counts, fit_model, out_of_fold


@pytest.fixture(scope="module")
def clf():
    return PostMoodClassifier()


# --- corpus readers: malformed rows are reported by file and line, and skipped ---------------


def test_nlpcc_reader_skips_unknown_labels(tmp_path):
    path = tmp_path / "weibo.csv"
    path.write_text("id,text,primary,secondary\n1,好开心,happiness,\n2,嗯,joyful,\n3,气死了,anger,\n",
                    encoding="utf-8")  # fmt: skip
    skipped = Skipped()
    posts = read_nlpcc(path, skipped)
    assert [(p.id, p.mood) for p in posts] == [("1", "happy"), ("3", "angry")]
    assert skipped.malformed == [f"{path}:3: unknown NLPCC label 'joyful'"]


def test_smp_reader_maps_fear_and_surprise(tmp_path):
    path = tmp_path / "usual_test.csv"
    path.write_text("id,text,label\n1,怕怕,fear\n2,哇,surprise\n3,x,bored\n4,哭,sad\n",
                    encoding="utf-8")  # fmt: skip
    skipped = Skipped()
    posts = read_smp(path, skipped)
    assert [p.mood for p in posts] == ["sad", "neutral", "sad"]
    assert skipped.malformed == [f"{path}:4: unknown SMP2020 label 'bored'"]


def _tweet(i: int, flags: str, content: str | None) -> str:
    names = ("Happiness", "Sadness", "Anger", "Fear", "Surprise")
    body = "".join(f"\t<{n}>\n\t{f}\n\t</{n}>\n" for n, f in zip(names, flags, strict=True))
    if content is not None:
        body += f"\t<Content>\n\t{content}\n\t</Content>\n"
    return f'<Tweet id="{i}">\n{body}</Tweet>\n\n'


def test_codeswitch_reader_merges_flags_and_unsegments(tmp_path):
    path = tmp_path / "dev.xml"
    path.write_text(
        _tweet(0, "TFFFT", "开心 ， 收到 offer 了 ！ love life")  # happy + surprise: happy
        + _tweet(1, "TTFFF", "又 哭 又 笑")  # happy and sad: two moods, left out
        + _tweet(2, "FFFFF", "明天 开会")  # nothing flagged: neutral
        + _tweet(3, "FFXFF", "坏 的 标记")  # malformed flag
        + _tweet(4, "FFTFF", None)  # no content
        + _tweet(5, "FFFTF", "好 怕 & # 039 ; s"),
        encoding="utf-8",
    )
    skipped = Skipped()
    posts = read_codeswitch(path, skipped)
    assert [(p.id, p.mood) for p in posts] == [("0", "happy"), ("2", "neutral"), ("5", "sad")]
    assert posts[0].text == "开心，收到 offer 了！ love life"
    assert skipped.mixed == 1
    assert len(skipped.malformed) == 2 and skipped.malformed[0].startswith(f"{path}:")
    lines = path.read_text(encoding="utf-8").splitlines()
    where = int(skipped.malformed[0].split(":")[1])
    assert lines[where - 1] == '<Tweet id="3">'
    assert unsegment("好 怕 & # 039 ; s") == "好怕 ' s"  # entities decoded; Latin spacing kept


def test_goemotions_reader(tmp_path, shared_data):
    (tmp_path / "labels.txt").write_text(
        (shared_data / "goemotions" / "labels.txt").read_text(encoding="utf-8")
    )
    names = (tmp_path / "labels.txt").read_text().split()
    i = {n: k for k, n in enumerate(names)}
    rows = [
        f"so happy for you\t{i['joy']},{i['neutral']}\ta1",  # joy beside neutral: happy
        f"ugh, that is awful\t{i['anger']},{i['sadness']}\ta2",  # two moods: left out
        f"what?\t{i['surprise']}\ta3",
        "no labels here\t\ta4",
        "bad id\t99\ta5",
        f"I miss him\t{i['grief']},{i['remorse']}\ta6",
    ]
    path = tmp_path / "test.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    skipped = Skipped()
    posts = read_goemotions(path, skipped)
    assert [(p.id, p.mood) for p in posts] == [("a1", "happy"), ("a3", "neutral"), ("a6", "sad")]
    assert skipped.mixed == 1
    assert [m.split(": ")[0] for m in skipped.malformed] == [f"{path}:4", f"{path}:5"]


def test_unreadable_corpus_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot read SMP2020"):
        read_smp(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="unknown smp split"):
        read_corpus("smp", tmp_path, "dev")


# --- label tables ----------------------------------------------------------------------------


def test_label_tables_cover_the_real_label_sets(shared_data):
    names = (shared_data / "goemotions" / "labels.txt").read_text().split()
    assert set(names) == set(GOEMOTIONS_TO_MOOD)
    assert GOEMOTIONS_TO_MOOD["fear"] == "sad" and GOEMOTIONS_TO_MOOD["disgust"] == "angry"
    assert GOEMOTIONS_TO_MOOD["surprise"] == "neutral"
    labels = {
        line.rsplit(",", 1)[-1]
        for line in (shared_data / "smp2020_ewect" / "usual_test.csv").read_text().splitlines()[1:]
    }
    assert labels == set(SMP_TO_MOOD)  # fmt: skip
    assert merge_moods(["neutral", "happy", "happy"]) == "happy"
    assert merge_moods(["neutral"]) == "neutral"
    assert merge_moods(["sad", "angry"]) is None


def test_real_corpora_read_without_malformed_rows(shared_data):
    for corpus, root, split, n in (
        ("smp", "smp2020_ewect", "usual_test", 5000),
        ("nlpcc2018", "nlpcc2018_codeswitch", "dev", 680),
        ("goemotions", "goemotions", "test", 5316),
    ):
        skipped = Skipped()
        posts = read_corpus(corpus, shared_data / root, split, skipped)
        assert len(posts) == n and not skipped.malformed
        assert {p.mood for p in posts} == {"happy", "sad", "angry", "neutral"}


# --- language routing and the shipped model --------------------------------------------------


def test_language_routing():
    assert language("对比了一下！决定入手 mv800！tr100 完全是虚高！love life！") == "zh"
    assert language("I love this song so much 好听") == "en"
    assert language("😂😂 !!") == "unknown"


def test_shipped_model_on_clear_posts(clf):
    zh = {
        "今天终于拿到录取通知书了，太开心了[哈哈]": "happy",
        "外婆走了，心里好难受，一直在哭[泪]": "sad",
        "又被插队了，真是气死我了，什么素质[怒]": "angry",
        "终于拿到 offer 了，超级 happy！": "happy",
    }
    en = {
        "This is the best day of my life, I'm so happy!": "happy",
        "I miss my dad so much, I cried all night.": "sad",
        "This is disgusting, I am furious at these idiots.": "angry",
    }
    for text, mood in {**zh, **en}.items():
        result = clf.classify(text)
        assert result.mood == mood, (text, result)
        assert result.language == ("zh" if text in zh else "en")
        assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert clf.classify("😂😂").mood is None  # no language it reads: unclear


def test_shipped_thresholds_and_confusion():
    th = shipped_thresholds()
    assert set(th) == {"zh", "en"} and all(0.3 <= v <= 0.95 for v in th.values())
    tables = json.loads((DATA_DIR / META_FILE).read_text(encoding="utf-8"))["confusion_cv"]
    for lang, table in tables.items():
        counts = np.asarray(table[f"{th[lang]:.3f}"])
        assert counts.shape == (4, 5)  # true mood x (classified mood + unclear)
        assert (counts[:, :4].argmax(axis=1) == np.arange(4)).all()  # mostly right


# --- a small fit, the model file, thresholds and confusion ----------------------------------


@pytest.fixture(scope="module")
def small_fit(shared_data):
    posts = read_corpus("smp", shared_data / "smp2020_ewect", "usual_eval")[:800]
    model = fit_model([p.text for p in posts], [p.mood for p in posts], BLOCKS["zh"], 1e-4)
    return posts, model


def test_small_fit_writes_a_valid_model_file(small_fit, tmp_path):
    posts, model = small_fit
    path = tmp_path / "post_mood.npz"
    save_models({"zh": model}, path)
    loaded = load_models(path)["zh"]
    texts = [p.text for p in posts[:50]]
    saved, fitted = loaded.probabilities(texts), model.probabilities(texts)
    np.testing.assert_allclose(saved, fitted, atol=0.03)  # the weights are stored as int8
    assert (saved.argmax(axis=1) == fitted.argmax(axis=1)).mean() >= 0.96
    (tmp_path / "classifier.json").write_text(json.dumps({"min_confidence": {"zh": 0.5}}))
    clf = PostMoodClassifier(data_dir=tmp_path)
    assert clf.classify(posts[0].text).language == "zh"
    assert clf.classify("hello there my friend").mood is None  # no English model in it
    train_acc = np.mean([r.probabilities[p.mood] == max(r.probabilities.values())
                         for p, r in zip(posts, clf.classify_many([p.text for p in posts]),
                                         strict=True)])  # fmt: skip
    assert train_acc > 0.8


def test_corrupt_or_missing_model_file_is_a_user_error(tmp_path):
    path = tmp_path / "post_mood.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UserError, match=r"post_mood\.npz: not a valid post-mood model"):
        load_models(path)
    with pytest.raises(UserError, match="not a valid post-mood model"):
        load_models(tmp_path / "absent.npz")


def test_fast_tfidf_equals_scikit_learn(small_fit, clf):
    posts, model = small_fit
    raw = [p.text for p in posts[:200]] + ["", "   ", "hello  World!!\tI", "a", "x y"]
    texts = [normalise(t) for t in raw]  # what the models are given
    for m in (model, clf.models["en"]):
        for v in m.vectorisers:
            assert abs(tfidf(v, texts) - v.transform(texts)).max() < 1e-6


def test_out_of_fold_probabilities_use_other_folds(small_fit):
    from trainer.taste.mood.fit import Sample

    posts, _ = small_fit
    samples = [Sample(p.text, p.mood, "smp") for p in posts[:400]]
    probs = out_of_fold(samples, BLOCKS["zh"], 1e-4, folds=2)
    assert probs.shape == (400, 4) and np.allclose(probs.sum(axis=1), 1.0)
    in_sample = small_fit[1].probabilities([s.text for s in samples])
    hits = lambda p: np.mean(p.argmax(axis=1) == [CLASSES.index(s.mood) for s in samples])  # noqa: E731
    assert hits(probs) < hits(in_sample) - 0.1  # held-out folds score worse than fitted posts


def test_naive_bayes_ratio_and_twin():
    from scipy import sparse

    from trainer.taste.mood.fit import nb_log_ratio

    # feature 0 only in the class's posts, 1 everywhere, 2 only outside the class
    present = sparse.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1], [0, 1, 1]]))
    r = nb_log_ratio(present, np.array([True, True, False, False]))
    assert r[0] > 0.5 and abs(r[1]) < 1e-9 and r[2] < -0.5 and r[0] == pytest.approx(-r[2])
    texts = ["开心快乐", "难过伤心", "气死我了", "今天周一"] * 5
    moods = ["happy", "sad", "angry", "neutral"] * 5
    twin = fit_model(texts, moods, BLOCKS["zh"], 1e-4)
    plain = fit_model(texts, moods, BLOCKS["zh"], 1e-4, nb_twin=False)
    assert not np.allclose(twin.coef, plain.coef)  # the twin is really averaged in
    for m in (twin, plain):  # both still read their own training posts
        assert list(m.probabilities(texts[:4]).argmax(axis=1)) == [0, 1, 2, 3]


def test_post_weights_scale_the_fit():
    texts = ["开心快乐", "难过伤心", "气死我了", "今天周一", "开心难过"] * 4
    moods = ["happy", "sad", "angry", "neutral", "happy"] * 3 + ["happy", "sad", "angry",
                                                                "neutral", "sad"]  # fmt: skip
    weights = np.array([1.0, 1, 1, 1, 0] * 3 + [1.0, 1, 1, 1, 50])  # the last "开心难过" rules
    m = fit_model(texts, moods, BLOCKS["zh"], 1e-4, weights=weights)
    assert m.probabilities(["开心难过"]).argmax() == CLASSES.index("sad")
    assert list(m.probabilities(texts[:4]).argmax(axis=1)) == [0, 1, 2, 3]


def test_emoint_reader_keeps_clear_tweets_of_one_mood(tmp_path):
    rows = {"anger": ["1\tso mad\tanger\t0.9", "2\tgame day\tanger\t0.2",
                      "3\tboth\tanger\t0.7"],
            "joy": ["4\tyay\tjoy\t0.8", "5\tboth\tjoy\t0.6", "bad row"],
            "sadness": ["6\tsigh\tsadness\t0.5"]}  # fmt: skip
    for emotion, lines in rows.items():
        (tmp_path / f"{emotion}-ratings-0to1.dev.gold.txt").write_text("\n".join(lines) + "\n")
    skipped = Skipped()
    posts = read_emoint(tmp_path, "dev", skipped)
    assert sorted((p.text, p.mood) for p in posts) == [
        ("sigh", "sad"), ("so mad", "angry"), ("yay", "happy")]  # fmt: skip
    assert skipped.mixed == 1 and len(skipped.malformed) == 1 and ":3:" in skipped.malformed[0]


def test_loco_bench_helpers():
    # EmoInt has no neutral posts: its macro-F1 is over the moods it has (a neutral guess
    # is a miss), not a fourth F1 of 0
    assert macro_f1(["happy", "sad"], np.array([0, 3])) == pytest.approx(0.5)
    posts = [LabelledPost(str(i), f"今天[泪]{i}", "sad") for i in range(20)]
    posts += [LabelledPost("x", "好[哈哈]", "happy"), LabelledPost("y", "[哈哈]", "neutral")]
    table = emoticon_moods(posts)
    assert table == {"[泪]": "sad"}  # [哈哈] is too rare here
    labels = distant_labels(["好难过[泪]", "没有表情", "[泪][哈哈]"], table)
    assert labels == [(0, "sad"), (2, "sad")]
    probs = np.array([[0.7, 0.1, 0.1, 0.1]] * 9 + [[0.1, 0.7, 0.1, 0.1]])
    shifted = prior_em(probs, np.full(4, 0.25))
    assert shifted[:, 0].mean() > 0.7 and np.allclose(shifted.sum(axis=1), 1.0)


def test_threshold_is_chosen_on_the_corpora_together():
    def cv(precisions):
        return {f"{t:.3f}": {"emotional_precision": p} for t, p in precisions}

    a = cv([(0.4, 0.70), (0.5, 0.78), (0.6, 0.84)])
    b = cv([(0.4, 0.86), (0.5, 0.90), (0.6, 0.95)])
    assert choose_threshold({"a": a, "b": b}, 0.80) == 0.5  # means 0.78, 0.84, 0.895
    assert choose_threshold({"a": a}, 0.80) == 0.6  # either corpus alone picks another
    assert choose_threshold({"b": b}, 0.80) == 0.4
    assert choose_threshold({"a": a}, 0.99) == 0.6  # unreachable: the highest


def test_confusion_counts_per_threshold():
    probs = np.array([[0.9, 0.05, 0.03, 0.02], [0.5, 0.3, 0.1, 0.1], [0.1, 0.2, 0.6, 0.1]])
    counts = confusion_counts(["happy", "sad", "angry"], probs, thresholds=[0.4, 0.55])
    assert counts["0.400"] == [[1, 0, 0, 0, 0], [1, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0] * 5]
    assert counts["0.550"] == [[1, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 1, 0, 0], [0] * 5]


# --- taste mood --posts FILE --json OUT -----------------------------------------------------


def test_posts_csv_and_jsonl_to_json_lines(tmp_path, capsys):
    csv_in = tmp_path / "posts.csv"
    csv_in.write_text("id,text\np1,今天太开心了[哈哈]\np2,\np3,I hate this so much\n",
                      encoding="utf-8")  # fmt: skip
    out = tmp_path / "moods.jsonl"
    assert main(["taste", "mood", "--posts", str(csv_in), "--json", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["p1", "p3"]
    assert rows[0]["mood"] == "happy" and rows[0]["language"] == "zh"
    assert set(rows[1]["probabilities"]) == {"happy", "sad", "angry", "neutral"}
    assert f"{csv_in}:3: no text" in capsys.readouterr().out

    jsonl = tmp_path / "posts.jsonl"
    jsonl.write_text('{"text": "好难过[泪][泪]"}\nnot json\n{"id": 7, "text": "😂"}\n',
                     encoding="utf-8")  # fmt: skip
    assert main(["taste", "mood", "--posts", str(jsonl), "--json", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["mood"]) for r in rows] == [("1", "sad"), ("7", None)]
    assert rows[1]["language"] == "unknown"
    assert f"{jsonl}:2: not a JSON object" in capsys.readouterr().out


def test_posts_from_a_mastodon_outbox(tmp_path):
    from datetime import datetime, timezone

    from tests.test_taste_imports import mastodon_outbox

    when = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    outbox = mastodon_outbox([(when, "<p>What a wonderful, happy day!</p>"),
                              (when, "<p>今天好难过，一直在哭[泪]</p>")])  # fmt: skip
    (tmp_path / "outbox.json").write_text(json.dumps(outbox), encoding="utf-8")
    out = tmp_path / "moods.jsonl"
    posts = tmp_path / "outbox.json"
    assert main(["taste", "mood", "--posts", str(posts), "--json", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["mood"], r["language"]) for r in rows] == [
        ("1", "happy", "en"), ("2", "sad", "zh")]  # fmt: skip


def test_posts_without_json_or_text_column_exit_2(tmp_path, capsys):
    bad = tmp_path / "posts.jsonl"
    bad.write_text('{"text": "hi"}\n', encoding="utf-8")
    assert main(["taste", "mood", "--posts", str(bad)]) == 2
    assert "--posts needs --json" in capsys.readouterr().err


def test_corpus_scoring_command(tmp_path, shared_data):
    out = tmp_path / "dev.json"
    argv = ["taste", "mood", "--corpus", "nlpcc2018", str(shared_data / "nlpcc2018_codeswitch"),
            "--split", "dev", "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["posts"] == 680 and result["languages"]["zh"] > 600
    assert 0.0 < result["coverage"] <= 1.0 and result["macro_f1_no_threshold"] > 0.45


# --- taste simulate --posts-from smp ---------------------------------------------------------


def test_simulate_posts_from_smp_test_splits(shared_data):
    from trainer.taste.simulate import simulate

    sim = simulate(shared_data / "smp2020_ewect", shared_data / "lastfm1k_subset", n_users=4,
                   posts_per_user=10, seed=0, posts_from="smp")  # fmt: skip
    test = {p.text: p.mood for s in ("usual_test", "virus_test")
            for p in read_corpus("smp", shared_data / "smp2020_ewect", s)}  # fmt: skip
    assert all(test[p.text] == m for p, m in zip(sim.posts, sim.post_moods, strict=True))
    with pytest.raises(UserError, match="--posts-from"):
        simulate(shared_data / "smp2020_ewect", shared_data / "lastfm1k_subset", posts_from="x")
