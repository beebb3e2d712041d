"""How to find a faint figure: from the nearest bright star that is up whenever the figure is."""

from __future__ import annotations

import math

from starloom_core.sky_geometry import angular_distance_deg, mean_direction

SIGNPOST_MAG = 1.6  # stars bright enough to find from a city: the way to a faint figure starts there
SIGNPOST_SOUTH_SLACK_DEG = 5.0  # how much farther south than the figure a signpost may lie
SIGNPOST_MAX_DEG = 35.0  # farther away, a star does not lead the eye to the figure


def find_signpost(members: list[dict], stars: list[dict]) -> tuple[dict, str, str] | None:
    """The nearest bright named star outside the figure, and which side of it the figure lies on."""
    own = {s["hip"] for s in members}
    ra0, dec0 = mean_direction([s["ra_deg"] for s in members], [s["dec_deg"] for s in members])
    # A signpost no farther south than the figure's own stars (give or take a few degrees) is up
    # whenever the figure is, wherever the viewer stands: Rigil Kentaurus is no help from Beijing.
    southmost = min(s["dec_deg"] for s in members) - SIGNPOST_SOUTH_SLACK_DEG
    bright = [s for s in stars if s["mag"] <= SIGNPOST_MAG and s["name"] and s["hip"] not in own and s["dec_deg"] >= southmost]

    def distance(star: dict) -> float:
        return float(angular_distance_deg(star["ra_deg"], star["dec_deg"], ra0, dec0))

    if not bright:
        return None
    star = min(bright, key=distance)
    if distance(star) > SIGNPOST_MAX_DEG:  # too far to lead the eye; the episode does without
        return None
    d_ra = (ra0 - star["ra_deg"] + 540) % 360 - 180
    d_dec = dec0 - star["dec_deg"]
    if abs(d_dec) >= abs(d_ra) * math.cos(math.radians(dec0)):
        return star, ("北边" if d_dec > 0 else "南边"), ("north" if d_dec > 0 else "south")
    return star, ("东边" if d_ra > 0 else "西边"), ("east" if d_ra > 0 else "west")


def signpost_beat(found: tuple[dict, str, str], target_zh: tuple[str, str], target_en: tuple[str, str],
                  closing: tuple[str, str], pictures: tuple[str, str]) -> tuple[str, str, str, str, str]:
    """The beat "to find it, start from bright X: it lies to its north", as (zh, en, visual, visual_zh,
    focus). `target_*` is how the beat names the figure (first mention, then its name); `closing`
    is a last sentence in each language."""
    star, side_zh, side_en = found
    return (f"想找到{target_zh[0]}，先找明亮的{star['name_zh'] or star['name']}，{target_zh[1]}就在它的{side_zh}。{closing[0]}",
            f"To find {target_en[0]}, start from bright {star['name']}: {target_en[1]} lies to its {side_en}. {closing[1]}",
            pictures[0], pictures[1], star["name"])
