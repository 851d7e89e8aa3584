"""Measuring models: latency, memory and side-by-side comparisons (TF-free unless a ``.keras``
model is measured).

Layered without cycles: :mod:`.host` (statistics, CPU, versions, peak RSS) and :mod:`.kinds`
(opening any model kind as a :class:`~ssd_isb.runtime.SegmenterBase`) at the bottom;
:mod:`.timing` (alternating timed runs) and :mod:`.memory` (peak RSS of a fresh process) on
them; :mod:`.benchmark` (``ssd-isb benchmark``) and :mod:`.comparison`
(``benchmarks/compare.py``) on top.
"""
