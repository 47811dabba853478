"""The MLServer serving runtime of every uplift predictor.

Pure: ``assignment`` (hash into holdout/treated), ``policy`` (cost-aware choice), ``config``,
``events`` (decision ids, reports), ``engine`` (the decision step). MLServer/Prometheus:
``runtime`` (``UpliftRuntime``) and ``metrics``. Contract: ``docs/runtime.md``.
"""
