"""The heart-disease classifier behind ``heart_disease.py``: data, training, evaluation, serving.

Start with ``heart_disease.py`` (the three commands), then ``train.py``, ``procedure.py``,
``pipeline.py``, ``evaluate.py`` and ``serving.py``; the README's "Start here" has the map.
"""
