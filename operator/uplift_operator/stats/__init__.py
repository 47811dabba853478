"""Pure statistics for the operator: numpy, scipy and the standard library only (no I/O, no kopf).

Modules:

- ``results``    — the ``Decision``/``TestResult``/``SequentialState`` value types every test returns;
- ``sequential`` — anytime-valid mSPRT tests of a difference (two-sided, non-inferiority,
  superiority), confidence sequences and the mixing variance;
- ``counts``     — the multinomial / Poisson count test and the one-sided rate-ratio test;
- ``srm``        — sample ratio mismatch (χ² at one look, sequential under monitoring);
- ``uplift``     — Qini/uplift curves, their areas, uplift@k, bootstrap CIs, multi-treatment;
- ``economics``  — incremental conversions and value, ROI, cost per incremental action;
- ``drift``      — PSI with a sample-size-aware threshold and a binned two-sample KS test.

Formulas and sources: ``docs/statistics.md``.
"""
