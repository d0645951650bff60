"""Runs: the command line (``LightningCLI`` with the project's defaults and one-line errors),
plans of runs (sweeps, coarse-to-fine scales) and where their files go. The Lightning callbacks
(``nst.callbacks``, the repository's top-level ``callbacks/``) belong to this layer."""
