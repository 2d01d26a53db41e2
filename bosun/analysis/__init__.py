"""Argo Rollouts' analysis, as Bosun's pure core sees it.

- :mod:`bosun.analysis.spec`: AnalysisTemplate / ClusterAnalysisTemplate models, merging
  templates and args into one run spec (after Argo Rollouts' ``utils/analysis/helpers.go``);
- :mod:`bosun.analysis.expr`: a safe evaluator of ``successCondition`` / ``failureCondition``
  (the cases of Argo Rollouts' expression language its docs show; no Python ``eval``);
- :mod:`bosun.analysis.run`: the rules of ``analysis/analysis.go``: a metric's phase from its
  measurements, the run's phase, when the next measurement is due, the AnalysisRun ``status``.

The I/O (measuring, reading templates and Secrets, writing the AnalysisRun) is in
``activities/analysis.py``; the loop with durable timers is ``workflows/analysis.py``.
To add a provider: accept its key in :data:`bosun.analysis.spec.PROVIDERS`, measure it in
``activities/analysis.py`` (a function returning a :class:`bosun.analysis.run.Measurement`).
"""
