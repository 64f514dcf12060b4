"""Shared fixtures: where the shared data and the shipped models are, small FER CSVs."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
MODELS = REPO / "models"
FER_CSV = SHARED_DATA / "fer2013" / "fer2013.csv.gz"
FERPLUS_HEADER = "neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not present (the project's shared data folder)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def fer_csv(shared_data) -> Path:
    if not FER_CSV.is_file():
        pytest.skip(f"{FER_CSV} is not present")
    return FER_CSV


def write_fer_csv(path: Path, rows: list[tuple[int, np.ndarray, str, list[int] | None]],
                  extra_lines: list[str] = ()) -> Path:
    """Write a FER2013-layout CSV; ``rows``: (emotion, 48x48 uint8, Usage, FER+ votes)."""
    with_votes = any(r[3] is not None for r in rows)
    lines = ["emotion,pixels,Usage" + ("," + FERPLUS_HEADER if with_votes else "")]
    for emotion, pixels, usage, votes in rows:
        line = f"{emotion},{' '.join(map(str, pixels.ravel()))},{usage}"
        if with_votes:
            line += "," + ",".join(map(str, votes or [0] * 10))
        lines.append(line)
    lines.extend(extra_lines)
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def synthetic_faces(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is learnable in seconds whatever the augmentation: class k has
    mean brightness 20 + 35 k, with noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, n)
    noise = rng.integers(-12, 13, (n, 48, 48))
    images = (20 + 35 * labels[:, None, None] + noise).clip(0, 255).astype(np.uint8)
    return images, labels


@pytest.fixture
def small_fer_csv(tmp_path) -> Path:
    images, labels = synthetic_faces(420)
    rows = []
    for i, (img, lab) in enumerate(zip(images, labels, strict=False)):
        votes = [0] * 10
        votes[[4, 5, 6, 1, 3, 2, 0][lab]] = 10  # FER+ column of this FER2013 label
        rows.append((int(lab), img, "PublicTest" if i % 5 == 0 else "Training", votes))
    return write_fer_csv(tmp_path / "small.csv", rows)


# --- a real Mosquitto for the MQTT tests (see tests/mqtt_broker.py) ------------------------


@pytest.fixture
def mqtt_broker_factory(tmp_path):
    """``make(**variant)`` starts a broker (plain, users=, certs=, acl=); all stop at the end."""
    from tests.harness.broker import MOSQUITTO, SKIP_REASON, Broker

    if MOSQUITTO is None:
        pytest.skip(SKIP_REASON)
    brokers: list[Broker] = []

    def make(**variant) -> Broker:
        broker = Broker(tmp_path / f"broker{len(brokers)}", **variant)
        brokers.append(broker)
        return broker.start()

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture
def mqtt_broker(mqtt_broker_factory):
    """A plain (anonymous, no TLS) Mosquitto on a free loopback port, with persistence."""
    return mqtt_broker_factory()


@pytest.fixture(scope="session")
def mqtt_certs(tmp_path_factory):
    """A test CA with server (127.0.0.1) and client certificates, made with openssl."""
    import shutil

    from tests.harness.broker import make_certs

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    return make_certs(tmp_path_factory.mktemp("mqtt_certs"))


# --- a real PostgreSQL for the store tests (see tests/harness/postgres.py) -----------------


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL cluster for the whole session (initdb and start once, a few seconds);
    each test takes its own database in it (``postgres_url``)."""
    from tests.harness.postgres import PSYCOPG_SKIP_REASON, SKIP_REASON, Postgres, find_bin_dir

    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip(SKIP_REASON)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip(PSYCOPG_SKIP_REASON)
    server = Postgres(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A URL (with the password) to a fresh, empty database of the session's server."""
    return postgres_server.url(postgres_server.new_database())


@pytest.fixture(params=["sqlite", "postgres"])
def store_factory(request, tmp_path):
    """The listen store tests, run against both backends: ``.db`` is the ``--db`` text
    (a fresh SQLite path or PostgreSQL URL), ``open()`` opens it (closed at the end)."""
    from trainer.sync.store import open_store

    class Factory:
        kind = request.param
        db = (str(tmp_path / "store.db") if request.param == "sqlite"
              else request.getfixturevalue("postgres_url"))

        def __init__(self):
            self.opened: list = []

        def open(self, **kw):
            self.opened.append(open_store(self.db, **kw))
            return self.opened[-1]

    factory = Factory()
    yield factory
    for store in factory.opened:
        store.close()
