"""Typed config values: jsonargparse checks them while parsing, and ``--help`` names them."""

from __future__ import annotations

from typing import Literal

from jsonargparse.typing import (
                                ClosedUnitInterval,
                                NonNegativeInt,
                                PositiveFloat,
                                PositiveInt,
                                restricted_number_type,
)

Weight = restricted_number_type("Weight", float, [(">=", 0), ("<", float("inf"))],
                                docstring="a finite number >= 0")
Pixels = restricted_number_type("Pixels", int, [(">=", 16), ("<=", 16384)], docstring="16..16384 px")
Seed = restricted_number_type("Seed", int, [(">=", 0), ("<=", 2**32 - 1)], docstring="0..2^32-1 (numpy's range)")
Decay = restricted_number_type("Decay", float, [(">=", 0), ("<", 1)], docstring="0 <= decay < 1")
Quality = restricted_number_type("Quality", int, [(">=", 1), ("<=", 100)], docstring="1..100 (JPEG/WebP)")
Optimizer = Literal["adam", "lbfgs"]
Pooling = Literal["max", "avg"]

__all__ = ["ClosedUnitInterval", "Decay", "NonNegativeInt", "Optimizer", "Pixels", "Pooling", "PositiveFloat", "PositiveInt",
           "Quality", "Seed", "Weight"]
