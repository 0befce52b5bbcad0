"""Versioned NLU models in the data dir: train, store, activate and load once per process.

Layout: ``<data_dir>/assistant/models/<task>/<version>/{model.joblib,meta.json}`` plus a
``<task>/ACTIVE`` file naming the version in use. ``brokercare nlu train`` writes ``v1``, ``v2`` ...;
with no trained version the built-in model is trained from the data shipped in the package, once
per process, deterministically, and cached in the data dir as ``builtin-<fingerprint>`` so other
worker processes load it instead of training again.

Why train at first use instead of shipping a pickle: a scikit-learn pickle is tied to the exact
library version (and unpickling runs code), while the reviewed, versioned artefact is the labelled
CSV; training takes a few seconds on one core.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import joblib
import sklearn

from brokercare.assistant.classifier import fingerprint, parse_labelled_csv, read_labelled_csv
from brokercare.assistant.lexicon import DATA
from brokercare.assistant.nlu import EmotionModel, IntentModel
from brokercare.core.errors import NotFound, ValidationFailed
from brokercare.core.settings import get_settings

TASKS = ("intent", "emotion")
SHIPPED = {"intent": "intent_train.csv", "emotion": "emotion_train.csv"}


@dataclass
class ModelInfo:
    task: str
    version: str
    fingerprint: str
    trained_at: str
    n_examples: int
    labels: list[str]
    source: str
    sklearn: str
    metrics: dict | None = None  # on the frozen evaluation sets, when `nlu retrain` made it
    status: str = "trained"  # trained (by hand), promoted or rejected (by `nlu retrain`)
    pool_rows: int = 0  # desk-labelled sentences it learned from
    note: str = ""

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValidationFailed(f"unknown task {task!r}; use one of: {', '.join(TASKS)}")


def models_dir(task: str) -> Path:
    return Path(get_settings().data_dir) / "assistant" / "models" / task


def shipped_data(task: str) -> tuple[list[str], list[str]]:
    return parse_labelled_csv(DATA.joinpath(SHIPPED[task]).read_text("utf-8"), name=SHIPPED[task])


def build_model(task: str, texts: list[str], labels: list[str]):
    return (IntentModel if task == "intent" else EmotionModel)().fit(texts, labels)


def _write_atomically(folder: Path, model, info: ModelInfo) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    joblib.dump(model, tmp / "model.joblib", compress=3)
    (tmp / "meta.json").write_text(json.dumps(info.as_dict(), ensure_ascii=False, indent=2), "utf-8")
    try:
        os.replace(tmp, folder)
    except OSError:  # another process won the race and wrote the same version
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()


def _versions(task: str) -> list[str]:
    root = models_dir(task)
    if not root.exists():
        return []
    return sorted(
        (p.name for p in root.iterdir() if p.is_dir() and p.name.startswith("v") and p.name[1:].isdigit()),
        key=lambda v: int(v[1:]),
    )


def train(task: str, data: str | Path, *, activate: bool = True) -> ModelInfo:
    """Train a new version from a ``text,label`` CSV and (by default) make it the active one."""
    _check_task(task)
    texts, labels = read_labelled_csv(data)
    if len(set(labels)) < 2:
        raise ValidationFailed("training data needs at least two different labels")
    info = store(task, build_model(task, texts, labels), texts, labels, source=str(Path(data).name))
    if activate:
        activate_version(task, info.version)
    return info


def store(task: str, model, texts: list[str], labels: list[str], *, source: str, **extra) -> ModelInfo:
    """Write ``model`` as the task's next version (v1, v2 …) with its info; not activated."""
    _check_task(task)
    versions = _versions(task)
    version = f"v{int(versions[-1][1:]) + 1 if versions else 1}"
    info = ModelInfo(task, version, fingerprint(texts, labels), datetime.now(UTC).isoformat(timespec="seconds"),
                     len(texts), sorted(set(labels)), source, sklearn.__version__, **extra)
    _write_atomically(models_dir(task) / version, model, info)
    return info


def activate_version(task: str, version: str) -> None:
    _check_task(task)
    if version != "builtin" and not (models_dir(task) / version / "model.joblib").exists():
        raise NotFound(f"no {task} model version {version!r}")
    models_dir(task).mkdir(parents=True, exist_ok=True)
    previous = active_version(task)
    if previous != version:
        with (models_dir(task) / "HISTORY").open("a", encoding="utf-8") as f:
            f.write(f"{previous}\n")
    _replace_text(models_dir(task) / "ACTIVE", version)
    forget_loaded()


def _replace_text(path: Path, text: str) -> None:
    """Write a small file so a reader in another process sees the old or the new text, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def rollback(task: str) -> tuple[str, str]:
    """Return to the version that was active before the current one (``builtin`` at the start of
    the history); ``(from, to)``. The history is a stack: rolling back twice goes back two steps."""
    _check_task(task)
    history_file = models_dir(task) / "HISTORY"
    history = history_file.read_text("utf-8").split() if history_file.exists() else []
    current = active_version(task)
    while history and history[-1] == current:
        history.pop()
    if not history and current == "builtin":
        raise NotFound(f"the {task} model is the shipped one (builtin); there is nothing to roll back to")
    target = history.pop() if history else "builtin"
    if target != "builtin" and not (models_dir(task) / target / "model.joblib").exists():
        raise NotFound(f"the previous {task} model {target!r} is missing from {models_dir(task)}")
    models_dir(task).mkdir(parents=True, exist_ok=True)
    _replace_text(models_dir(task) / "ACTIVE", target)
    _replace_text(history_file, "".join(f"{v}\n" for v in history))
    forget_loaded()
    return current, target


def list_versions(task: str) -> list[dict]:
    _check_task(task)
    out = []
    for v in _versions(task):
        meta = models_dir(task) / v / "meta.json"
        if meta.exists():
            out.append(json.loads(meta.read_text("utf-8")))
    return out


#: How long a process trusts the ACTIVE marker it read: a promotion or rollback by another process
#: (``nlu retrain`` from the weekly job) shows within this delay; this process's own promotions at
#: once. Reading the file on every message cost the service hub a stat and a read per model use.
ACTIVE_RECHECK_S = 1.0
_active_seen: dict[Path, tuple[float, str]] = {}


def active_version(task: str) -> str:
    marker = models_dir(task) / "ACTIVE"
    seen = _active_seen.get(marker)
    now = time.monotonic()
    if seen is not None and now - seen[0] < ACTIVE_RECHECK_S:
        return seen[1]
    version = marker.read_text("utf-8").strip() if marker.exists() else "builtin"
    _active_seen[marker] = (now, version)
    return version


_loaded: dict[tuple, object] = {}
_builtin: dict[tuple, tuple[object, ModelInfo]] = {}
_lock = threading.Lock()


def forget_loaded() -> None:
    _loaded.clear()
    _active_seen.clear()


def _builtin_model(task: str):
    texts, labels = shipped_data(task)
    fp = fingerprint(texts, labels)
    key = (task, fp, sklearn.__version__)
    if key in _builtin:
        return _builtin[key]
    folder = models_dir(task) / f"builtin-{fp}"
    model = info = None
    if (folder / "model.joblib").exists():
        try:
            meta = json.loads((folder / "meta.json").read_text("utf-8"))
            if meta.get("sklearn") == sklearn.__version__:
                model, info = joblib.load(folder / "model.joblib"), ModelInfo(**meta)
        except Exception:  # a damaged cache is rebuilt, never fatal
            model = None
    if model is None:
        model = build_model(task, texts, labels)
        info = ModelInfo(task, "builtin", fp, datetime.now(UTC).isoformat(timespec="seconds"), len(texts),
                         sorted(set(labels)), SHIPPED[task], sklearn.__version__)
        # A read-only data dir still gets a working in-memory model.
        with contextlib.suppress(OSError):
            _write_atomically(folder, model, info)
    _builtin[key] = (model, info)
    return model, info


def load(task: str):
    """The active model of ``task`` and its info, loaded once per process and data dir."""
    _check_task(task)
    version = active_version(task)
    key = (str(models_dir(task)), task, version)
    hit = _loaded.get(key)
    if hit is not None:
        return hit
    with _lock:
        hit = _loaded.get(key)
        if hit is not None:
            return hit
        if version == "builtin":
            hit = _builtin_model(task)
        else:
            folder = models_dir(task) / version
            if not (folder / "model.joblib").exists():
                raise NotFound(f"active {task} model {version!r} is missing from {folder}")
            meta = json.loads((folder / "meta.json").read_text("utf-8"))
            hit = (joblib.load(folder / "model.joblib"), ModelInfo(**meta))
        _loaded[key] = hit
        return hit


def cached_build(name: str, key: bytes, build):
    """``build()`` once per key: loaded from ``<models>/<name>/<name>-<hash>.joblib`` when an earlier
    process (or worker) already built it, else built and stored there. For derived models trained
    from shipped data (the knowledge-base matcher, the guard's attempt classifier); a damaged or
    unwritable cache only costs a rebuild."""
    digest = hashlib.sha256(key + sklearn.__version__.encode()).hexdigest()[:16]
    folder = models_dir("intent").parent / name
    path = folder / f"{name}-{digest}.joblib"
    if path.exists():
        try:
            return joblib.load(path)
        except Exception:  # a damaged cache is rebuilt, never fatal
            pass
    built = build()
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        os.close(fd)
        joblib.dump(built, tmp, compress=3)
        os.replace(tmp, path)
    return built
