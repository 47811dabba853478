"""The MLServer serving runtime of every uplift predictor.

Pure: ``assignment`` (hash into holdout/treated), ``policy`` (cost-aware choice), ``config``,
``events`` (decision ids, reports), ``engine`` (the decision step). MLServer/Prometheus:
``runtime`` (``UpliftRuntime``) and ``metrics``. Files re-read while it runs: ``reloading``
(the watch), ``report_tokens`` (the report endpoints' bearer tokens). Contract:
``docs/runtime.md``.
"""
