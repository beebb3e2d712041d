"""Title card and poster, drawn with Pillow in the series look (Chinese and Latin names)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from starloom_core.fonts import cjk_font

SERIES_NAME = "每日一星座 · A Constellation a Day"


def _starfield(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    sky = np.array([3, 5, 20], np.float32) + np.array([14, 22, 52], np.float32) * t
    image = np.broadcast_to(sky, (height, width, 3)).copy()
    count = width * height // 900
    ys, xs = rng.integers(0, height, count), rng.integers(0, width, count)
    image[ys, xs] = np.minimum(image[ys, xs] + rng.uniform(60, 255, (count, 1)), 255)
    return Image.fromarray(image.astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.6))


def _centered(draw: ImageDraw.ImageDraw, y: float, text: str, size: int, width: int, fill) -> None:
    font = cjk_font(max(size, 8))
    box = draw.textbbox((0, 0), text, font=font)
    draw.text(((width - (box[2] - box[0])) / 2, y), text, font=font, fill=fill)


def _unit(width: int, height: int) -> float:
    """Type size unit: a hundredth of the height, but no larger than a portrait frame's width allows."""
    return min(height, width * 1.2) / 100


def draw_title_card(out: Path, width: int, height: int, *, chinese: str, latin: str, title_zh: str,
                    title_en: str, episode_number: int, date: str) -> Path:
    image = _starfield(width, height, seed=episode_number)
    draw = ImageDraw.Draw(image)
    unit = _unit(width, height)
    row = height / 100
    _centered(draw, 14 * row, SERIES_NAME, int(4 * unit), width, (170, 190, 230))
    _centered(draw, 26 * row, chinese, int(16 * unit), width, (255, 236, 200))
    _centered(draw, 26 * row + 20 * unit, latin, int(8 * unit), width, (220, 230, 255))
    _centered(draw, 62 * row, title_zh, int(6 * unit), width, (240, 240, 250))
    _centered(draw, 62 * row + 9 * unit, title_en, int(4.5 * unit), width, (200, 210, 235))
    _centered(draw, 85 * row, f"No. {episode_number} · {date}", int(3.5 * unit), width, (150, 165, 200))
    image.save(out)
    return out


def draw_end_card(out: Path, width: int, height: int, *, chinese: str, latin: str, source: str, seed: int) -> Path:
    """The last frame a viewer sees: where tonight's constellation was, when to come back, and the sources."""
    image = _starfield(width, height, seed=seed + 1)
    draw = ImageDraw.Draw(image)
    unit, row = _unit(width, height), height / 100
    _centered(draw, 30 * row, f"今晚抬头，找找{chinese}", int(7 * unit), width, (255, 236, 200))
    _centered(draw, 30 * row + 11 * unit, f"Look up tonight for {latin}", int(4.5 * unit), width, (220, 230, 255))
    _centered(draw, 62 * row, "明天见 · See you tomorrow", int(4.5 * unit), width, (200, 210, 235))
    _centered(draw, 86 * row, source, int(2.6 * unit), width, (140, 150, 185))
    image.save(out)
    return out


def draw_poster(frame: Path, out: Path, *, chinese: str, latin: str, title_zh: str) -> Path:
    """A frame of the episode with the names over a dark band: the thumbnail a viewer clicks."""
    image = Image.open(frame).convert("RGB")
    width, height = image.size
    band = Image.new("RGBA", image.size, (0, 0, 0, 0))
    ImageDraw.Draw(band).rectangle([0, int(height * 0.66), width, height], fill=(0, 0, 10, 150))
    image = Image.alpha_composite(image.convert("RGBA"), band).convert("RGB")
    draw = ImageDraw.Draw(image)
    unit = height / 100
    _centered(draw, 68 * unit, f"{chinese}  {latin}", int(11 * unit), width, (255, 236, 200))
    _centered(draw, 84 * unit, title_zh, int(7 * unit), width, (235, 240, 255))
    image.save(out)
    return out
