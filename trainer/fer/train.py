"""FER training: augmentation, FER+ soft labels, class balancing, early stopping on
PublicTest, fixed seeds and checkpoints that survive an interrupted run.

A run lives in a checkpoint directory (``last.keras``, ``best.keras``, ``state.json``,
``history.csv``); running the same command again resumes from ``last.keras``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from device.shared.errors import UserError
from device.shared.manifest import mood_matrix

from . import losses  # noqa: F401  registers custom objects the checkpoint may name
from .architectures import build
from .dataset import FER_LABELS, FerData, ferplus_distribution, not_a_face
from .export import DEFAULT_MOODS, logits_model, with_flip_average
from .losses import MoodAccuracy, MoodAwareLoss

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    arch: str = "moodnet"
    #: base channel count of moodnet (30: ~232k parameters, an int8 file under 300 KB)
    width: int = 30
    epochs: int = 40
    batch_size: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 1e-2
    warmup_epochs: int = 1
    #: weight of the FER2013 label in the target; the rest is the FER+ vote distribution
    hard_label_weight: float = 0.7
    #: sample weight = class_frequency ** -class_balance (0 = none, 1 = fully balanced)
    class_balance: float = 0.3
    #: sample weight multiplier of faces whose FER+ majority names another class than
    #: their FER2013 label (1 = no change; >1 leans on the FER2013 annotator's call)
    disputed_weight: float = 1.0
    drop_not_face: bool = True
    augment: bool = True
    #: scales the rotation, zoom, shift and contrast/brightness ranges (0: flips only)
    augment_strength: float = 1.0
    #: chance (up to) that a face gets a random rectangle erased (keras RandomErasing; 0: off)
    random_erasing: float = 0.0
    patience: int = 10
    seed: int = 1234
    max_train_rows: int | None = None  # a subset, for smoke tests and the heavy paper model
    #: weight of the 4-mood cross-entropy added to the 7-class one (losses.MoodAwareLoss)
    mood_loss: float = 0.0
    #: PublicTest metric that picks best.keras and drives early stopping
    select_on: str = "accuracy"  # or "mood_accuracy"
    #: a .keras checkpoint to start from (fine-tuning) instead of random weights
    init: str | None = None
    #: .keras checkpoints whose (flip-averaged) predictions on each augmented batch,
    #: averaged over the checkpoints, are mixed into the targets: knowledge distillation
    teacher: list[str] | None = None
    #: share of the teacher's distribution in the target (the rest is the label target)
    teacher_weight: float = 0.5
    #: softmax temperature applied to the teacher's logits (>1 softens them)
    teacher_temperature: float = 1.0

    def __post_init__(self) -> None:
        # one path, as runs made before ensembles of teachers recorded it
        if isinstance(self.teacher, str):
            self.teacher = [self.teacher]


@dataclass
class PreparedData:
    x_train: np.ndarray  # uint8 (N, 48, 48, 1)
    y_train: np.ndarray  # float32 (N, 7) targets
    w_train: np.ndarray  # float32 (N,) sample weights
    x_val: np.ndarray
    y_val: np.ndarray  # float32 one-hot


def prepare(train: FerData, val: FerData, cfg: TrainConfig) -> PreparedData:
    """Targets, weights and filtering; pure numpy so it is testable without TensorFlow."""
    n_classes = len(FER_LABELS)
    images, labels, votes = train.images, train.labels, train.votes
    if votes is not None and cfg.drop_not_face:
        keep = ~not_a_face(votes)
        dropped = int((~keep).sum())
        if dropped:
            log.info("dropping %d training faces that FER+ annotators marked not-a-face", dropped)
        images, labels, votes = images[keep], labels[keep], votes[keep]
    if cfg.max_train_rows is not None and len(labels) > cfg.max_train_rows:
        pick = np.random.default_rng(cfg.seed).permutation(len(labels))[: cfg.max_train_rows]
        images, labels = images[pick], labels[pick]
        votes = None if votes is None else votes[pick]
    targets = np.eye(n_classes, dtype=np.float32)[labels]
    # class frequency ** -class_balance; the scale goes with the normalisation below
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    weights = (np.maximum(counts, 1) ** -cfg.class_balance)[labels]
    if votes is not None:
        dist, has = ferplus_distribution(votes)
        if cfg.hard_label_weight < 1.0:
            a = cfg.hard_label_weight
            targets[has] = a * targets[has] + (1 - a) * dist[has]
        if cfg.disputed_weight != 1.0:
            disputed = has & (dist.argmax(axis=1) != labels)
            weights = weights * np.where(disputed, cfg.disputed_weight, 1.0)
    if len(weights):
        weights = weights / weights.mean()  # mean sample weight stays 1
    return PreparedData(
        x_train=images[..., None],
        y_train=targets,
        w_train=weights.astype(np.float32),
        x_val=val.images[..., None],
        y_val=np.eye(n_classes, dtype=np.float32)[val.labels],
    )


def _augmenter(seed: int, strength: float = 1.0, erasing: float = 0.0):
    # heavy (TensorFlow, ~7 s): only training needs it
    import keras
    import tensorflow as tf

    layers = [keras.layers.RandomFlip("horizontal", seed=seed)]
    if strength > 0:
        layers += [
            keras.layers.RandomRotation(0.04 * strength, fill_mode="reflect", seed=seed + 1),
            keras.layers.RandomZoom(0.12 * strength, fill_mode="reflect", seed=seed + 2),
            keras.layers.RandomTranslation(
                0.1 * strength, 0.1 * strength, fill_mode="reflect", seed=seed + 3
            ),
        ]
    geometric = keras.Sequential(layers)
    eraser = (
        keras.layers.RandomErasing(factor=erasing, value_range=(0.0, 1.0), seed=seed + 4)
        if erasing > 0
        else None
    )
    gen = tf.random.Generator.from_seed(seed)

    def augment(x, y, w):
        x = geometric(tf.cast(x, tf.float32) / 255.0, training=True)
        n = tf.shape(x)[0]
        contrast = gen.uniform((n, 1, 1, 1), 1 - 0.25 * strength, 1 + 0.25 * strength)
        brightness = gen.uniform((n, 1, 1, 1), -0.1 * strength, 0.1 * strength)
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        x = tf.clip_by_value((x - mean) * contrast + mean + brightness, 0.0, 1.0)
        if eraser is not None:
            x = tf.clip_by_value(eraser(x, training=True), 0.0, 1.0)
        return x, y, w

    return augment


def _distiller(cfg: TrainConfig):
    """Map (x, y, w) to targets mixed with the teacher's view of the same augmented faces.

    The teacher runs inside the input pipeline, so the student's loss, metrics and
    checkpoints stay the plain soft-target cross-entropy of every other run. Several
    teachers make an ensemble: the mean of their tempered distributions.
    """
    # heavy (TensorFlow, ~7 s): only training needs it
    import keras
    import tensorflow as tf

    teachers = [  # each gives the mean logits of face and mirror
        with_flip_average(logits_model(keras.models.load_model(path, compile=False)))
        for path in cfg.teacher or ()
    ]
    a, t = cfg.teacher_weight, cfg.teacher_temperature

    def distil(x, y, w):
        views = [tf.nn.softmax(teacher(x, training=False) / t) for teacher in teachers]
        return x, (1 - a) * y + a * tf.add_n(views) / len(views), w

    return distil


def _dataset(data: PreparedData, cfg: TrainConfig):
    import tensorflow as tf  # heavy (TensorFlow, ~7 s): only training needs it

    ds = tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train, data.w_train))
    ds = ds.shuffle(len(data.y_train), seed=cfg.seed, reshuffle_each_iteration=True)
    ds = ds.batch(cfg.batch_size)
    if cfg.augment:
        augment = _augmenter(cfg.seed, cfg.augment_strength, cfg.random_erasing)
        ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda x, y, w: (tf.cast(x, tf.float32) / 255.0, y, w))
    if cfg.teacher:
        ds = ds.map(_distiller(cfg))
    val = tf.data.Dataset.from_tensor_slices(
        (data.x_val.astype(np.float32) / 255.0, data.y_val)
    ).batch(512)
    return ds.prefetch(tf.data.AUTOTUNE), val.cache()


def _compile(model, cfg: TrainConfig, steps_per_epoch: int) -> None:
    import keras  # heavy (TensorFlow, ~7 s): only training needs it

    total = max(cfg.epochs * steps_per_epoch, 1)
    warmup = min(cfg.warmup_epochs * steps_per_epoch, total - 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg.learning_rate / 10 if warmup else cfg.learning_rate,
        decay_steps=total - warmup,
        warmup_target=cfg.learning_rate if warmup else None,
        warmup_steps=warmup,
        alpha=0.01,
    )
    mapping = mood_matrix(FER_LABELS, DEFAULT_MOODS)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay),
        loss=MoodAwareLoss(mapping, cfg.mood_loss)
        if cfg.mood_loss > 0
        else keras.losses.CategoricalCrossentropy(),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy"), MoodAccuracy(mapping)],
    )


def _atomic_save(model, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "mood_accuracy",
                "val_mood_accuracy")  # fmt: skip


class _RunState:
    """Best score, patience and history persisted beside the checkpoint."""

    def __init__(self, run_dir: Path, cfg: TrainConfig):
        self.path = run_dir / "state.json"
        self.history_path = run_dir / "history.csv"
        self.cfg = cfg
        self.epoch = 0
        self.best = -1.0
        self.best_epoch = 0
        self.done = False
        if self.path.exists():
            saved = json.loads(self.path.read_text())
            # a run saved before a field existed ran with that field's default, and
            # TrainConfig reads older spellings of a field (see __post_init__)
            config = saved.get("config", {})
            if set(config) - {f.name for f in fields(TrainConfig)} or TrainConfig(**config) != cfg:
                raise SystemExit(
                    f"{run_dir}: holds a run with a different configuration; "
                    "use another --checkpoint-dir or delete it"
                )
            self.epoch, self.best = saved["epoch"], saved["best"]
            self.best_epoch, self.done = saved["best_epoch"], saved.get("done", False)

    def save(self) -> None:
        state = {
            "config": asdict(self.cfg), "epoch": self.epoch, "best": self.best,
            "best_epoch": self.best_epoch, "done": self.done,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, self.path)

    def append_history(self, epoch: int, logs: dict) -> None:
        if self.history_path.exists():
            with open(self.history_path, newline="") as fh:
                keys = next(csv.reader(fh))[1:]
            new = False
        else:
            keys = [k for k in HISTORY_KEYS if k in logs] or list(HISTORY_KEYS[:4])
            new = True
        with open(self.history_path, "a", newline="") as fh:
            writer = csv.writer(fh)
            if new:
                writer.writerow(["epoch", *keys])
            writer.writerow([epoch, *(f"{float(logs.get(k, float('nan'))):.5f}" for k in keys)])


def read_history(run_dir: Path) -> dict[str, list[float]]:
    path = Path(run_dir) / "history.csv"
    out: dict[str, list[float]] = {}
    if not path.exists():
        return out
    with open(path) as fh:
        for row in csv.DictReader(fh):
            for key, value in row.items():
                out.setdefault(key, []).append(float(value))
    return out


@dataclass
class Stage:
    """One training run in a model's lineage (a fine-tune names its parent in ``init``)."""

    config: dict
    epochs: int
    best_epoch: int
    first_epoch: int = 1  # where it starts in the joined history
    #: the epoch whose weights went on: the best one, or the last where the next stage
    #: started from ``last.keras``
    used_epoch: int | None = None

    def __post_init__(self) -> None:
        if self.used_epoch is None:
            self.used_epoch = self.best_epoch


def run_lineage(run_dir: Path) -> tuple[dict[str, list[float]], list[Stage]]:
    """History and stages of a run and of the runs it was fine-tuned from, oldest first.

    A fine-tune starts from its parent's ``best.keras`` (or ``last.keras``), so the joined
    curve keeps the parent's epochs up to that one and numbers the fine-tune's epochs on
    from there.
    """
    run_dir = Path(run_dir)
    state_path = run_dir / "state.json"
    own = read_history(run_dir)
    if not state_path.exists():
        return own, []
    state = json.loads(state_path.read_text())
    stage = Stage(state["config"], state["epoch"], state["best_epoch"])
    init = state["config"].get("init")
    history: dict[str, list[float]] = {}
    stages: list[Stage] = []
    if init and (Path(init).parent / "state.json").exists():
        history, stages = run_lineage(Path(init).parent)
        parent = stages[-1]
        if Path(init).name == "last.keras":
            parent.used_epoch = parent.epochs
        used = parent.best_epoch if parent.used_epoch is None else parent.used_epoch
        keep = len(history.get("epoch", [])) - parent.epochs + used
        history = {k: v[:keep] for k, v in history.items()}
    offset = len(history.get("epoch", []))
    stage.first_epoch = offset + 1
    for key in set(history) | set(own):
        before = history.get(key, [float("nan")] * offset)
        after = own.get(key, [float("nan")] * len(own.get("epoch", [])))
        if key == "epoch":
            after = [offset + e for e in after]
        history[key] = before + after
    return history, [*stages, stage]


def train(train_data: FerData, val_data: FerData, cfg: TrainConfig, run_dir: Path):
    """Train (or resume) and return the best model by PublicTest accuracy."""
    import keras  # heavy (TensorFlow, ~7 s): only training needs it

    if cfg.select_on not in ("accuracy", "mood_accuracy"):
        raise UserError(f"--select-on must be accuracy or mood_accuracy, not {cfg.select_on!r}")
    if cfg.init is not None and not Path(cfg.init).is_file():
        raise UserError(f"--init {cfg.init}: no such checkpoint")
    for teacher in cfg.teacher or ():
        if not Path(teacher).is_file():
            raise UserError(f"--teacher {teacher}: no such checkpoint")
    if not 0.0 <= cfg.teacher_weight <= 1.0 or cfg.teacher_temperature <= 0:
        raise UserError("--teacher-weight must be within 0..1 and --teacher-temperature > 0")
    if not 0.0 <= cfg.random_erasing <= 1.0:
        raise UserError(f"--random-erasing must be within 0..1, not {cfg.random_erasing}")
    if cfg.disputed_weight < 0:
        raise UserError(f"--disputed-weight must be >= 0, not {cfg.disputed_weight}")
    if cfg.random_erasing > 0 and not cfg.augment:
        raise UserError("--random-erasing is augmentation: drop --no-augment "
                        "(--augment-strength 0 keeps only the flips)")  # fmt: skip
    run_dir.mkdir(parents=True, exist_ok=True)
    state = _RunState(run_dir, cfg)
    best_path, last_path = run_dir / "best.keras", run_dir / "last.keras"
    if state.done and best_path.exists():
        log.info("run in %s already finished (best %.4f at epoch %d)", run_dir, state.best,
                 state.best_epoch)
        return keras.models.load_model(best_path, compile=False)

    keras.utils.set_random_seed(cfg.seed + state.epoch)
    data = prepare(train_data, val_data, cfg)
    train_ds, val_ds = _dataset(data, cfg)
    steps = int(np.ceil(len(data.y_train) / cfg.batch_size))
    if last_path.exists() and state.epoch > 0:
        log.info("resuming from %s after epoch %d", last_path, state.epoch)
        model = keras.models.load_model(last_path)
    elif cfg.init is not None:
        log.info("starting from the weights in %s", cfg.init)
        model = keras.models.load_model(cfg.init, compile=False)
        _compile(model, cfg, steps)
    else:
        model = build(cfg.arch, width=cfg.width)
        _compile(model, cfg, steps)
    log.info("%s: %d parameters, %d training faces, %d validation faces", model.name,
             model.count_params(), len(data.y_train), len(data.y_val))

    class Checkpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            state.epoch = epoch + 1
            state.append_history(epoch + 1, logs)
            score = float(logs.get(f"val_{cfg.select_on}", 0.0))
            if score > state.best:
                state.best, state.best_epoch = score, epoch + 1
                _atomic_save(self.model, best_path)
            _atomic_save(self.model, last_path)
            if state.epoch - state.best_epoch >= cfg.patience:
                log.info("early stop: no PublicTest %s gain for %d epochs", cfg.select_on,
                         cfg.patience)  # fmt: skip
                self.model.stop_training = True
                state.done = True
            state.save()

    if state.epoch < cfg.epochs:
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=cfg.epochs,
            initial_epoch=state.epoch,
            callbacks=[Checkpoint()],
            verbose=1 if sys.stderr.isatty() else 2,
        )
    state.done = True
    state.save()
    return keras.models.load_model(best_path, compile=False)
