"""Experiments: what applications report after using a prompt, aggregated and compared.

- :mod:`promptdeck.metrics.outcome`: one outcome, the latency histogram and the
  distinct-user sketch (pure);
- :mod:`promptdeck.metrics.aggregate`: additive aggregates per feature, environment,
  version and time bucket, and the rows a store adds up (pure);
- :mod:`promptdeck.metrics.recorder`: the thread-safe, never-raising recorder with a
  background flush, and the ``timed()`` helper;
- :mod:`promptdeck.metrics.stats`: two arms compared with confidence intervals, tests,
  verdicts and a fixed-horizon plan (pure; scipy and statsmodels).

None of these modules imports SQLAlchemy, Textual or Click.
"""
