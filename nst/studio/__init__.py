"""The studio: a local web page (Gradio) to make a picture and watch it form.

Layers: ``controls`` (the artist's words -> config keys) and ``masks`` (brush strokes ->
``content_masks``) are plain functions; ``session`` runs ``nst.stylize`` for one browser tab;
``handlers`` are the page's events; ``page`` the layout; ``server`` the command
(``python studio.py``, ``nst studio``). It builds on the Python API (``nst.stylize``).
"""
