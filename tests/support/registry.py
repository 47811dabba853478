"""Model versions in a real MLflow registry, made fast for lifecycle tests.

One real training run (``uplift-operator train`` on a Hillstrom sample) gives a registered
version with the run metrics and reference artifacts the gates read. Further versions reuse its
model artifacts under a new run whose metrics a test chooses (a worse Qini, say), which takes a
fraction of a second instead of a training run.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from uplift_operator.model import trainer

REFERENCE_FILES = ("reference/feature_histograms.json", "reference/uplift_distribution.json",
                   "reference/qini_bootstrap.json")


class Versions:
    """Register versions of ``name`` on the tracking server at ``url``."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.client = MlflowClient(tracking_uri=url, registry_uri=url)
        self.base_version: str | None = None
        self.base_metrics: dict[str, float] = {}
        self.references: dict[str, Any] = {}

    def train(self, data: Path, sample: int = 6000) -> str:
        """Train and register the first version; returns its number."""
        code = trainer.main(["--data", str(data), "--tracking-uri", self.url,
                             "--model-name", self.name, "--sample", str(sample),
                             "--learner", "t", "--base", "logistic", "--n-bootstrap", "50", "-q"])
        assert code == 0, "training failed"
        latest = max(self.client.search_model_versions(f"name='{self.name}'"),
                     key=lambda v: int(v.version))
        self.base_version = str(latest.version)
        assert latest.run_id is not None
        run = self.client.get_run(latest.run_id)
        self.base_metrics = dict(run.data.metrics)
        with tempfile.TemporaryDirectory() as tmp:
            for path in REFERENCE_FILES:
                local = self.client.download_artifacts(latest.run_id, path, tmp)
                self.references[path] = json.loads(Path(local).read_text())
        return self.base_version

    def clone(self, metrics: Mapping[str, float] | None = None,
              references: Mapping[str, Any] | None = None, name: str | None = None,
              without: tuple[str, ...] = ()) -> str:
        """A new version of ``name`` (default: the base model) with the base model's artifacts
        and a new run's metrics (those starting with a prefix in ``without`` left out) and
        reference artifacts."""
        assert self.base_version is not None, "train() first"
        target = name or self.name
        if target != self.name and not self.client.search_registered_models(f"name='{target}'"):
            self.client.create_registered_model(target)
        base = self.client.get_model_version(self.name, self.base_version)
        assert base.run_id is not None and base.source is not None
        experiment = self.client.get_run(base.run_id).info.experiment_id
        run = self.client.create_run(experiment)
        for key, value in {**self.base_metrics, **(metrics or {})}.items():
            if not (without and key.startswith(without)):
                self.client.log_metric(run.info.run_id, key, value)
        for path, content in {**self.references, **(references or {})}.items():
            self.client.log_dict(run.info.run_id, content, path)
        self.client.set_terminated(run.info.run_id)
        # MLflow 3: a version whose source is a LoggedModel (models:/m-...) names that model.
        model_id = base.source.removeprefix("models:/") if base.source.startswith("models:/m-") else None
        created = self.client.create_model_version(target, base.source, run_id=run.info.run_id,
                                                   model_id=model_id)
        return str(created.version)

    def set_alias(self, alias: str, version: str, name: str | None = None) -> None:
        self.client.set_registered_model_alias(name or self.name, alias, version)

    def tags(self, version: str, name: str | None = None) -> dict[str, str]:
        return dict(self.client.get_model_version(name or self.name, version).tags)

    def alias_target(self, alias: str, name: str | None = None) -> str:
        return str(self.client.get_model_version_by_alias(name or self.name, alias).version)
