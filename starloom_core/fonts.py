"""The CJK-capable font every picture with Chinese text uses, found through fontconfig."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from starloom_core.tools import run_tool

CJK_FAMILY = "Noto Sans CJK SC"


class FontMissingError(FileNotFoundError):
    """No CJK font is installed; Chinese text would render as boxes."""


@lru_cache(maxsize=1)
def cjk_font_path() -> Path:
    try:
        found = run_tool(["fc-match", "-f", "%{file}", f"{CJK_FAMILY}:lang=zh-cn"], text=True).stdout
    except FileNotFoundError:
        found = ""
    path = Path(found)
    if not found or not path.exists() or "CJK" not in path.name and "wqy" not in path.name.lower():
        raise FontMissingError(f"no CJK font found (fc-match gave {found!r}); install fonts-noto-cjk")
    return path


@lru_cache(maxsize=16)
def cjk_font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(cjk_font_path()), size)
