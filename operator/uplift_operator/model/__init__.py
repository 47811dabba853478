"""The uplift model: learners, feature schema and drift binning, MLflow pyfunc, trainer CLI.

Pure: ``features``, ``learners``, ``fastpredict``, ``scoring``. MLflow I/O: ``pyfunc`` and the
logging half of ``trainer`` (``uplift-operator train``). Contract: ``docs/dataplane.md``.
"""
