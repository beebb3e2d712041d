"""The `sky` backend: the real night sky around a constellation, rendered with numpy and Pillow.

Stars come from the catalog (positions, V magnitude as size and brightness, B-V as colour) over a
faint Milky Way; the stick figure is drawn over them, revealed line by line in a "reveal" shot, with
the Chinese asterisms a story names in warm red, while the camera drifts and slowly pushes in. A
"tonight" shot shows the observer's real horizon instead: ground, cardinal points, and the figure
at its true altitude and azimuth. The CPU default therefore yields an episode worth watching.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from upath import UPath

from starloom_core.fonts import cjk_font
from ray_jobs.requests import ClipRequest
from starloom_core.sky_geometry import alt_az, equatorial, mean_direction
from starloom_core.storage import catalog_dir, read_parquet

RENDERER_VERSION = "4"
# How much closer than the establishing view each shot size looks (a scene cuts wide → medium → close).
FRAMING_ZOOM = {"": 1.0, "wide": 1.0, "medium": 1.5, "close": 2.3}
SKY_TOP = np.array([2.0, 4.0, 16.0], dtype=np.float32)  # deep indigo at the zenith
SKY_BOTTOM = np.array([10.0, 20.0, 46.0], dtype=np.float32)
LINE_COLOUR = (150, 190, 255)
ASTERISM_COLOUR = (255, 150, 110)  # the Chinese sky, told apart from the IAU figure
MILKY_WAY_COLOUR = np.array([0.55, 0.62, 0.85], dtype=np.float32)
GROUND_COLOUR = (6, 8, 14)
CARDINALS = ((0, "北 N"), (45, "东北 NE"), (90, "东 E"), (135, "东南 SE"), (180, "南 S"), (225, "西南 SW"),
             (270, "西 W"), (315, "西北 NW"))


@dataclass(frozen=True)
class SkyTables:
    constellations: pd.DataFrame  # indexed by IAU abbreviation
    stars: pd.DataFrame  # indexed by HIP id
    figures: pd.DataFrame
    asterism_lines: pd.DataFrame


class SkyBackend:
    """Draws from the catalog tables under the storage root each request names, so one warm
    replica serves every root; tables are cached per root and star-data revision."""

    name = "sky"
    fps = 24

    def __init__(self) -> None:
        self._tables: dict[tuple[str, str], SkyTables] = {}

    def tables(self, root: UPath, revision: str) -> SkyTables:
        key = (str(root), revision)
        if key not in self._tables:
            directory = catalog_dir(root)
            self._tables = {key: SkyTables(
                constellations=read_parquet(directory / "constellations.parquet").set_index("abbr"),
                stars=read_parquet(directory / "stars.parquet").set_index("hip"),
                figures=read_parquet(directory / "figures.parquet"),
                asterism_lines=read_parquet(directory / "asterism_lines.parquet"),
            )}
        return self._tables[key]

    def generate(self, request: ClipRequest, root: UPath) -> np.ndarray:
        sky = self.tables(root, request.model_revision)
        if request.constellation not in sky.constellations.index:
            raise KeyError(f"{request.scene_id}: constellation {request.constellation!r} is not in the catalog")
        figure = sky.figures[sky.figures.constellation == request.constellation]
        row = sky.constellations.loc[request.constellation]
        asterisms = sky.asterism_lines[sky.asterism_lines.asterism.isin(request.asterisms)]
        if request.horizon:
            view = SkyView.tonight(sky.stars, figure, asterisms, request, (row.chinese, row.latin))
        else:
            view = SkyView.around(sky.stars, figure, asterisms, request, (row.chinese, row.latin))
        return np.stack([view.frame(i) for i in range(request.num_frames)])


def bv_to_rgb(bv: np.ndarray) -> np.ndarray:
    """Approximate star colour from B-V: blue-white (-0.3) through white (0.6) to orange-red (2.0)."""
    t = np.clip((np.nan_to_num(bv, nan=0.6) + 0.3) / 2.3, 0.0, 1.0)[:, None]
    blue, white, red = np.array([0.62, 0.72, 1.0]), np.array([1.0, 0.97, 0.92]), np.array([1.0, 0.6, 0.35])
    near = np.clip(t / 0.4, 0, 1)
    far = np.clip((t - 0.4) / 0.6, 0, 1)
    return np.where(t < 0.4, blue + (white - blue) * near, white + (red - white) * far)


def stereographic(ra: np.ndarray, dec: np.ndarray, ra0: float, dec0: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project degrees onto the plane tangent at (ra0, dec0); east is left, as seen looking up."""
    a, d, a0, d0 = map(np.radians, (ra, dec, ra0, dec0))
    cos_c = np.sin(d0) * np.sin(d) + np.cos(d0) * np.cos(d) * np.cos(a - a0)
    k = 2.0 / (1.0 + np.clip(cos_c, -0.99, None))
    x = -k * np.cos(d) * np.sin(a - a0)
    y = k * (np.cos(d0) * np.sin(d) - np.sin(d0) * np.cos(d) * np.cos(a - a0))
    return x, y, cos_c


def inverse_stereographic(x: np.ndarray, y: np.ndarray, ra0: float, dec0: float) -> tuple[np.ndarray, np.ndarray]:
    """Plane points of `stereographic` back to (ra, dec) in degrees."""
    d0 = math.radians(dec0)
    rho = np.maximum(np.hypot(x, y), 1e-9)
    c = 2 * np.arctan(rho / 2)
    dec = np.arcsin(np.clip(np.cos(c) * math.sin(d0) + y * np.sin(c) * math.cos(d0) / rho, -1, 1))
    ra = ra0 + np.degrees(np.arctan2(-x * np.sin(c), rho * math.cos(d0) * np.cos(c) - y * math.sin(d0) * np.sin(c)))
    return ra % 360.0, np.degrees(dec)


# The north galactic pole and the galactic longitude of the north celestial pole (J2000).
GALACTIC_POLE_RA, GALACTIC_POLE_DEC, NCP_LONGITUDE = 192.85948, 27.12825, 122.93192


def milky_way_brightness(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """0..1: a band about 7° wide on the galactic equator, three times brighter towards the galactic
    centre, with the Great Rift's dark lane just north of the plane there."""
    a, d = np.radians(ra), np.radians(dec)
    ap, dp = math.radians(GALACTIC_POLE_RA), math.radians(GALACTIC_POLE_DEC)
    b = np.arcsin(np.clip(np.sin(d) * math.sin(dp) + np.cos(d) * math.cos(dp) * np.cos(a - ap), -1, 1))
    l_ = math.radians(NCP_LONGITUDE) - np.arctan2(np.cos(d) * np.sin(a - ap), np.sin(d) * math.cos(dp) - np.cos(d) * math.sin(dp) * np.cos(a - ap))
    b_deg = np.degrees(b)
    centre = ((1 + np.cos(l_)) / 2) ** 2
    band = np.exp(-(b_deg / 7.0) ** 2) * (0.35 + 0.65 * centre)
    rift = 0.55 * np.exp(-((b_deg - 1.5) / 1.8) ** 2) * centre
    return np.clip(band - rift * band, 0, 1)


@lru_cache(maxsize=64)
def _sprite(radius: int) -> np.ndarray:
    """A soft star: a Gaussian core with a faint halo, peak 1."""
    r = np.arange(-radius, radius + 1, dtype=np.float32)
    d2 = r[None, :] ** 2 + r[:, None] ** 2
    core = np.exp(-d2 / (2 * (0.18 * radius + 0.5) ** 2))
    halo = 0.18 * np.exp(-d2 / (2 * (0.45 * radius + 0.8) ** 2))
    return np.minimum(core + halo, 1.0)


class SkyView:
    """One clip's camera: centre, scale and drift, fixed by the request so re-renders are identical."""

    def __init__(self, stars: pd.DataFrame, lines: list[list[int]], request: ClipRequest, ra0: float, dec0: float,
                 scale: float, names: tuple[str, str], asterisms: pd.DataFrame | None = None,
                 horizon_frame: tuple[float, float] | None = None):
        self.request, self.lines, self.names = request, lines, names
        self.horizon_frame = horizon_frame  # (latitude, sidereal time) when the plane is the observer's horizon
        horizon = horizon_frame is not None
        self.centre = (ra0, dec0)
        self.w, self.h = request.width, request.height
        self.scale = scale  # pixels per unit of the projection plane (about one radian)
        rng = np.random.default_rng(request.seed)
        angle = rng.uniform(0, 2 * math.pi)
        self.drift = np.array([math.cos(angle), math.sin(angle)]) * 0.06  # of the frame, over the clip
        self.zoom = (1.0, 1.0 + rng.uniform(0.05, 0.12))
        x, y, cos_c = stereographic(stars.ra_deg.to_numpy(), stars.dec_deg.to_numpy(), ra0, dec0)
        reach = min(1.3 * math.hypot(self.w, self.h) / 2 / scale, math.radians(85))  # the frame's corners
        visible = cos_c > math.cos(reach)
        self.stars = stars[visible]
        self.xy = np.stack([x[visible], y[visible]], axis=1)
        mag = self.stars.mag.to_numpy()
        # Perceived, not photometric, brightness: faint stars stay visible, bright ones bloom.
        self.brightness = np.clip(1.5 - 0.23 * mag, 0.1, 2.0)
        self.radius = np.clip((7.0 - mag) * min(self.w, self.h) / 180.0, 1, 24).astype(int)
        self.colour = bv_to_rgb(pd.to_numeric(self.stars.bv, errors="coerce").to_numpy())
        self.background = self._background(rng)
        self.background = self.background + self._milky_way()
        self.focus_hip = _hip_named(self.stars, request.focus)
        self.asterisms = self._asterism_paths(asterisms)
        # The horizon from 100° left to 100° right of where the viewer faces (the rest is behind them).
        ahead = (ra0 + np.arange(-100.0, 100.5, 1.0)) % 360.0
        self.horizon_xy = self._plane(ahead, np.zeros(len(ahead))) if horizon else None
        if horizon:
            # A slow pan along the horizon, no tilt; never so slow that the shot looks frozen.
            self.drift = np.array([math.copysign(max(abs(math.cos(angle)), 0.5), math.cos(angle)) * 0.03, 0.0])

    def _plane(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        """Sky coordinates to this view's projection plane (NaN where behind the camera)."""
        x, y, cos_c = stereographic(np.asarray(ra, dtype=float), np.asarray(dec, dtype=float), *self.centre)
        xy = np.stack([x, y], axis=1)
        xy[cos_c < -0.9] = np.nan
        return xy

    def _milky_way(self) -> np.ndarray:
        """The Milky Way as a soft band along the galactic equator, brightest towards the centre in
        Sagittarius, with the dark Great Rift beside it; sampled on a coarse grid and smoothed."""
        from PIL import ImageFilter

        gw, gh = 160, 90
        gx, gy = np.meshgrid((np.arange(gw) + 0.5) * self.w / gw, (np.arange(gh) + 0.5) * self.h / gh)
        px, py = (gx - self.w / 2) / self.scale, -(gy - self.h / 2) / self.scale
        ra, dec = inverse_stereographic(px, py, *self.centre)
        if self.horizon_frame is not None:  # the plane holds (360° - azimuth, altitude): back to the sky
            ra, dec = equatorial(dec, (360.0 - ra) % 360.0, *self.horizon_frame)
        glow = milky_way_brightness(ra, dec).astype(np.float32)
        image = Image.fromarray(np.uint8(np.clip(glow * 255, 0, 255))).resize((self.w, self.h), Image.BICUBIC)
        blurred = np.asarray(image.filter(ImageFilter.GaussianBlur(radius=max(self.w, self.h) / 160)), dtype=np.float32)
        return (blurred / 255.0)[..., None] * MILKY_WAY_COLOUR * 44.0

    def _asterism_paths(self, asterisms: pd.DataFrame | None) -> list[tuple[str, list[np.ndarray]]]:
        if asterisms is None or not len(asterisms):
            return []
        paths = []
        for name, group in asterisms.groupby("asterism", sort=False):
            lines = [self._plane(line.sort_values("seq").ra_deg.to_numpy(), line.sort_values("seq").dec_deg.to_numpy())
                     for _, line in group.groupby("line")]
            paths.append((str(name), lines))
        return paths

    @classmethod
    def around(cls, stars: pd.DataFrame, figure: pd.DataFrame, asterisms: pd.DataFrame,
               request: ClipRequest, names: tuple[str, str]) -> "SkyView":
        lines = [list(g.sort_values("seq").hip) for _, g in figure.groupby("line")]
        members = stars.loc[sorted(set(figure.hip))]
        ra0, dec0 = mean_direction(members.ra_deg.to_numpy(), members.dec_deg.to_numpy())
        focus = _hip_named(stars, request.focus)
        if focus is not None:  # lean the frame towards the star the narration is about
            ra0, dec0 = mean_direction(np.array([ra0, ra0, stars.ra_deg[focus]]), np.array([dec0, dec0, stars.dec_deg[focus]]))
        x, y, _ = stereographic(members.ra_deg.to_numpy(), members.dec_deg.to_numpy(), ra0, dec0)
        # Fit the figure into the middle 68% of the frame (the camera pushes in by up to 12%), whichever way it is longer.
        extent_x, extent_y = max(float(np.abs(x).max()), 0.02), max(float(np.abs(y).max()), 0.02)
        scale = min(0.34 * request.width / extent_x, 0.34 * request.height / extent_y)
        if focus is not None and request.framing == "close":  # a close shot centres on that star
            ra0, dec0 = float(stars.ra_deg[focus]), float(stars.dec_deg[focus])
        return cls(stars, lines, request, ra0, dec0, scale * FRAMING_ZOOM.get(request.framing, 1.0), names, asterisms)

    @classmethod
    def tonight(cls, stars: pd.DataFrame, figure: pd.DataFrame, asterisms: pd.DataFrame,
                request: ClipRequest, names: tuple[str, str]) -> "SkyView":
        """The observer's view towards the figure: everything placed by altitude and azimuth. Azimuth
        stands in for right ascension (mirrored, so it grows to the right) and altitude for declination."""
        latitude, lst, facing = request.horizon

        def horizontal(frame: pd.DataFrame) -> pd.DataFrame:
            alt, az = alt_az(frame.ra_deg.to_numpy(), frame.dec_deg.to_numpy(), latitude, lst)
            return frame.assign(ra_deg=(360.0 - az) % 360.0, dec_deg=alt)

        placed = horizontal(stars)
        members = placed.loc[sorted(set(figure.hip))]
        top = float(members.dec_deg.max())
        # Show from the horizon to above the figure's highest star, at most the zenith.
        half_height = math.radians(min(max(top + 16.0, 36.0), 96.0) / 2)
        centre_alt = math.degrees(half_height) - 8.0  # the frame's foot is a little below the horizon: ground shows
        scale = (request.height / 2) / (2 * math.tan(half_height / 2))
        zoom = FRAMING_ZOOM.get(request.framing, 1.0)
        if zoom > 1.0:  # a closer shot rises from the horizon towards the figure: a close one centres on it
            reach = math.degrees(half_height) / zoom  # the closer frame's half height, in degrees
            middle = float(members.dec_deg.median())
            if top <= 0.0:  # not up tonight: look closer at the horizon where it will rise, not into the ground
                centre_alt = reach - 5.0
            else:
                centre_alt += (middle - centre_alt) * min((1.0 - 1.0 / zoom) / (1.0 - 1.0 / FRAMING_ZOOM["close"]), 1.0)
                if request.framing != "close" and 2 * reach - 5.0 >= top + 2.0:
                    centre_alt = min(centre_alt, reach - 5.0)  # a medium shot keeps a strip of ground when the figure fits
            scale *= zoom
        lines = [list(g.sort_values("seq").hip) for _, g in figure.groupby("line")]
        return cls(placed, lines, request, (360.0 - facing) % 360.0, centre_alt, scale, names,
                   horizontal(asterisms) if len(asterisms) else asterisms, horizon_frame=(latitude, lst))

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        t = np.linspace(0, 1, self.h, dtype=np.float32)[:, None, None]
        sky = SKY_TOP + (SKY_BOTTOM - SKY_TOP) * t
        # A faint, soft nebulosity: a few large blobs, not pixel noise.
        haze = rng.normal(0, 1, (6, 10)).astype(np.float32)
        haze = np.asarray(Image.fromarray(haze).resize((self.w, self.h), Image.BICUBIC))
        return np.broadcast_to(sky, (self.h, self.w, 3)) + np.clip(haze, -2, 2)[..., None] * np.array([1.5, 2.0, 4.0], dtype=np.float32)

    def _screen(self, i: int) -> tuple[np.ndarray, float]:
        return self._to_screen(self.xy, i), i / max(self.request.num_frames - 1, 1)

    def _to_screen(self, xy: np.ndarray, i: int) -> np.ndarray:
        p = i / max(self.request.num_frames - 1, 1)
        ease = p * p * (3 - 2 * p)
        zoom = self.zoom[0] + (self.zoom[1] - self.zoom[0]) * ease
        centre = np.array([self.w / 2, self.h / 2]) + (ease - 0.5) * self.drift * np.array([self.w, self.h])
        return centre + xy * np.array([self.scale * zoom, -self.scale * zoom])

    def frame(self, i: int) -> np.ndarray:
        pos, progress = self._screen(i)
        canvas = self.background.copy()
        twinkle = 1.0 + 0.08 * np.sin(i * 0.7 + np.arange(len(pos)) * 1.3)
        for (x, y), r, b, c, tw in zip(pos, self.radius, self.brightness, self.colour, twinkle):
            xi, yi = int(round(x)), int(round(y))
            if xi < -r or yi < -r or xi >= self.w + r or yi >= self.h + r:
                continue
            sprite = _sprite(int(r))
            y0, y1, x0, x1 = max(yi - r, 0), min(yi + r + 1, self.h), max(xi - r, 0), min(xi + r + 1, self.w)
            patch = sprite[y0 - (yi - r): y1 - (yi - r), x0 - (xi - r): x1 - (xi - r)]
            canvas[y0:y1, x0:x1] += patch[..., None] * (255.0 * b * tw * c)
        image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
        self._draw_overlay(image, pos, progress, i)
        return np.asarray(image)

    def _draw_overlay(self, image: Image.Image, pos: np.ndarray, progress: float, i: int) -> None:
        overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        where = {hip: tuple(p) for hip, p in zip(self.stars.index, pos)}
        segments = [(a, b) for line in self.lines for a, b in zip(line, line[1:]) if a in where and b in where]
        reveal = min(progress / 0.7, 1.0) if self.request.shot == "reveal" else 1.0
        # Names and asterisms fade in once, in the opening reveal; a later shot cuts to them already there.
        fade_in = min(progress * 2, 1.0) if self.request.shot == "reveal" else 1.0
        shown = reveal * len(segments)
        width = max(1, round(min(self.w, self.h) / 260))
        for n, (a, b) in enumerate(segments):
            part = min(max(shown - n, 0.0), 1.0)
            if part <= 0:
                break
            (xa, ya), (xb, yb) = where[a], where[b]
            draw.line([(xa, ya), (xa + (xb - xa) * part, ya + (yb - ya) * part)], fill=(*LINE_COLOUR, 150), width=width)
        for name, lines in self.asterisms:
            drawn = [self._to_screen(xy, i) for xy in lines]
            for points in drawn:
                points = points[~np.isnan(points).any(axis=1)]
                if len(points) > 1:
                    draw.line([tuple(p) for p in points], fill=(*ASTERISM_COLOUR, int(170 * fade_in)), width=width)
            points = np.concatenate([p for p in drawn if len(p)]) if drawn else np.empty((0, 2))
            points = points[~np.isnan(points).any(axis=1)]
            if len(points):  # under the asterism's lowest star: clear of the focus star's name, which sits above
                x, y = points[points[:, 1].argmax()]
                draw.text((x, y + 10), name, font=cjk_font(max(10, min(self.w, self.h) // 32)),
                          fill=(*ASTERISM_COLOUR, 210), anchor="mt")
        if self.horizon_xy is not None:
            self._draw_horizon(draw, width, i)
        if self.focus_hip is not None and self.focus_hip in where:
            x, y = where[self.focus_hip]
            ring = min(self.w, self.h) * (0.035 + 0.01 * math.sin(progress * math.pi * 4))
            draw.ellipse([x - ring, y - ring, x + ring, y + ring], outline=(255, 220, 150, 170), width=width)
            font = cjk_font(max(10, min(self.w, self.h) // 28))
            draw.text((x + ring * 1.2, y - ring * 1.2), self.request.focus, font=font, fill=(255, 230, 190, 220))
        label = f"{self.names[0]}  {self.names[1]}"
        draw.text((self.w * 0.04, self.h * 0.05), label, font=cjk_font(max(10, self.h // 20)), fill=(220, 230, 255, int(200 * fade_in)))
        image.paste(Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB"))


    def _draw_horizon(self, draw: ImageDraw.ImageDraw, width: int, i: int) -> None:
        """Ground below altitude 0, a faint glow along it, and the cardinal points the viewer faces."""
        line = self._to_screen(self.horizon_xy, i)
        line = line[~np.isnan(line).any(axis=1)]
        inside = line[(line[:, 0] > -self.w) & (line[:, 0] < 2 * self.w)]
        if len(inside) > 1:
            if inside[0, 0] > inside[-1, 0]:  # azimuth grows to the right: draw the ground left to right
                inside = inside[::-1]
            ground = [(-10, self.h + 10), *[tuple(p) for p in inside], (self.w + 10, self.h + 10)]
            draw.polygon(ground, fill=(*GROUND_COLOUR, 255))
            draw.line([tuple(p) for p in inside], fill=(90, 110, 160, 160), width=width)
        font = cjk_font(max(10, min(self.w, self.h) // 26))
        for azimuth, label in CARDINALS:
            xy = self._to_screen(self._plane(np.array([(360.0 - azimuth) % 360.0]), np.array([0.0])), i)[0]
            if not np.isnan(xy).any() and 0 <= xy[0] < self.w:
                # Just above the horizon line: the bottom of the frame belongs to the subtitles.
                draw.text((xy[0] - font.size, xy[1] - font.size * 1.7), label, font=font, fill=(200, 210, 235, 230))


def _hip_named(stars: pd.DataFrame, name: str) -> int | None:
    if not name:
        return None
    hits = stars.index[stars["name"] == name]
    return int(hits[0]) if len(hits) else None
