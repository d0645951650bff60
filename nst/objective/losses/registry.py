"""Losses registered by name, so a config can say ``style_loss: sliced_wasserstein``.

A style loss is built as ``cls(target_features, **options)`` for one layer; a content loss the
same way. Options come from the config (``style_loss_options: {normalization: coursera}``);
unknown names or options give a :class:`ConfigError` that lists the valid ones.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass

from torch import nn

from nst.errors import ConfigError


@dataclass(frozen=True)
class LossEntry:
    cls: type[nn.Module]
    default_weight: float  # a weight that balances content_weight=1 with vgg19-caffe features
    default_layers: tuple[str, ...] | None = None  # None: the model's defaults (Gatys'; content: relu4_2)

    @property
    def quadratic_cost(self) -> bool:
        """The loss's cost grows with the square of the pixels (patch matching)."""
        return getattr(self.cls, "quadratic_cost", False)

    @property
    def hypercolumn(self) -> bool:
        """The loss reads several layers at once (a dict of feature maps), not one layer."""
        return getattr(self.cls, "hypercolumn", False)

    @property
    def needs_content(self) -> bool:
        """The style loss's target is made from the photo's features too (NNST)."""
        return getattr(self.cls, "needs_content", False)

    @property
    def takes_guides(self) -> bool:
        """The loss weights its statistics by masks (``input_guide``/``target_guide``)."""
        return "input_guide" in inspect.signature(self.cls.__init__).parameters


STYLE_LOSSES: dict[str, LossEntry] = {}
CONTENT_LOSSES: dict[str, LossEntry] = {}


def register(table: dict[str, LossEntry], name: str, default_weight: float,
             default_layers: tuple[str, ...] | None = None):
    def decorate(cls):
        table[name] = LossEntry(cls, default_weight, default_layers)
        cls.registered_name = name
        return cls

    return decorate


def register_style_loss(name: str, default_weight: float, default_layers: tuple[str, ...] | None = None):
    return register(STYLE_LOSSES, name, default_weight, default_layers)


def register_content_loss(name: str, default_weight: float, default_layers: tuple[str, ...] | None = None):
    return register(CONTENT_LOSSES, name, default_weight, default_layers)


def lookup(table: dict[str, LossEntry], name: str, what: str) -> LossEntry:
    if name not in table:
        raise ConfigError(f"unknown {what} '{name}'; valid: {', '.join(sorted(table))}")
    return table[name]


NOT_OPTIONS = ("self", "target", "target_features", "target_guide", "input_guide", "layers", "samplers",
               "content_features")


def accepted_options(entry: LossEntry) -> list[str]:
    params = inspect.signature(entry.cls.__init__).parameters
    return [p for p in params if p not in NOT_OPTIONS]


def check_options(entry: LossEntry, options: dict, what: str) -> dict:
    """Reject options the loss does not take, naming the ones it does, and values outside an
    option's ``Literal[...]`` choices, naming those."""
    accepted = accepted_options(entry)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"{what} '{entry.cls.registered_name}' has no option {', '.join(unknown)}; "
            f"its options: {', '.join(accepted) or 'none'}"
        )
    hints = typing.get_type_hints(entry.cls.__init__)
    for key, value in options.items():
        if typing.get_origin(hints.get(key)) is typing.Literal and value not in typing.get_args(hints[key]):
            choices = ", ".join(map(str, typing.get_args(hints[key])))
            raise ConfigError(f"{what} '{entry.cls.registered_name}': unknown {key} '{value}'; valid: {choices}")
    return dict(options)
