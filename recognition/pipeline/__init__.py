"""Django-free face pipeline: image -> detect -> align -> embed + expression.

Public entry points live in :mod:`recognition.pipeline.analyse`.
"""
