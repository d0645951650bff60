"""Losses registered by name, so a config can say ``style_loss: sliced_wasserstein``.

A style loss is built as ``cls(target_features, **options)`` for one layer; a content loss the
same way. Options come from the config (``style_loss_options: {normalization: coursera}``);
unknown names or options give a :class:`ConfigError` that lists the valid ones.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from torch import nn

from nst.errors import ConfigError


@dataclass(frozen=True)
class LossEntry:
    cls: type[nn.Module]
    default_weight: float  # a weight that balances content_weight=1 with vgg19-caffe features
    summary: str
    default_layers: tuple[str, ...] | None = None  # None: the model's defaults (Gatys')


STYLE_LOSSES: dict[str, LossEntry] = {}
CONTENT_LOSSES: dict[str, LossEntry] = {}


def register(table: dict[str, LossEntry], name: str, default_weight: float, summary: str,
             default_layers: tuple[str, ...] | None = None):
    def decorate(cls):
        table[name] = LossEntry(cls, default_weight, summary, default_layers)
        cls.registered_name = name
        return cls

    return decorate


def register_style_loss(name: str, default_weight: float, summary: str,
                        default_layers: tuple[str, ...] | None = None):
    return register(STYLE_LOSSES, name, default_weight, summary, default_layers)


def register_content_loss(name: str, default_weight: float, summary: str):
    return register(CONTENT_LOSSES, name, default_weight, summary)


def lookup(table: dict[str, LossEntry], name: str, what: str) -> LossEntry:
    if name not in table:
        raise ConfigError(f"unknown {what} '{name}'; valid: {', '.join(sorted(table))}")
    return table[name]


def accepted_options(entry: LossEntry) -> list[str]:
    params = inspect.signature(entry.cls.__init__).parameters
    return [p for p in params if p not in ("self", "target", "target_features")]


def check_options(entry: LossEntry, options: dict, what: str) -> dict:
    """Reject options the loss does not take, naming the ones it does."""
    accepted = accepted_options(entry)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"{what} '{entry.cls.registered_name}' has no option {', '.join(unknown)}; "
            f"its options: {', '.join(accepted) or 'none'}"
        )
    return dict(options)
