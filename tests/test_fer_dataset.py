"""FER2013 loader: Kaggle layout, gzip, FER+ votes, bad rows reported by line."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import synthetic_faces, write_fer_csv
from trainer.fer.dataset import (
    FerDataError,
    ferplus_distribution,
    load_fer_csv,
    not_a_face,
)


@pytest.mark.parametrize("name", ["faces.csv", "faces.csv.gz"])
def test_reads_plain_and_gzip_with_bad_rows(tmp_path, name):
    images, labels = synthetic_faces(4)
    rows = [(int(lab), img, "Training", None) for img, lab in zip(images, labels, strict=True)]
    bad = [
        "3,1 2 3,Training",  # line 6: too few pixels
        "9," + " ".join(["0"] * 2304) + ",Training",  # line 7: emotion out of range
        "2," + " ".join(["0"] * 2303) + " x,PublicTest",  # line 8: not a number
        "1," + " ".join(["0"] * 2304) + ",SomeSplit",  # line 9: unknown split
        "4," + " ".join(["300"] * 2304) + ",Training",  # line 10: pixel > 255
        "5",  # line 11: short row
    ]
    path = write_fer_csv(tmp_path / name, rows, bad)
    data = load_fer_csv(path)
    assert len(data) == 4
    assert data.images.shape == (4, 48, 48) and data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.images, images)
    np.testing.assert_array_equal(data.labels, labels)
    assert data.votes is None
    assert [b.line for b in data.bad_rows] == [6, 7, 8, 9, 10, 11]
    assert "2304" in data.bad_rows[0].reason
    assert "outside 0..6" in data.bad_rows[1].reason
    assert "SomeSplit" in data.bad_rows[3].reason


def test_split_filter_and_votes(small_fer_csv):
    data = load_fer_csv(small_fer_csv, ("PublicTest",))
    assert set(data.usage) == {"PublicTest"}
    assert data.votes is not None and data.votes.shape == (len(data), 10)
    dist, has = ferplus_distribution(data.votes)
    assert has.all()
    np.testing.assert_array_equal(dist.argmax(axis=1), data.labels)


def test_ferplus_distribution_drops_contempt_unknown_nf():
    votes = np.array([
        [5, 5, 0, 0, 0, 0, 0, 3, 1, 1],  # half neutral, half happy; the rest has no class
        [0, 0, 0, 0, 0, 0, 0, 0, 2, 8],  # not a face
    ], dtype=np.float32)
    dist, has = ferplus_distribution(votes)
    assert has.tolist() == [True, False]
    assert dist[0, 6] == pytest.approx(0.5) and dist[0, 3] == pytest.approx(0.5)
    assert not_a_face(votes).tolist() == [False, True]


def test_missing_columns_and_missing_file(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("label,image\n1,2\n")
    with pytest.raises(FerDataError, match="missing column"):
        load_fer_csv(path)
    with pytest.raises(FerDataError, match="no such file"):
        load_fer_csv(tmp_path / "absent.csv")
