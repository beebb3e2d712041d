"""Rebuild data/sky/stars.csv and data/sky/figures.csv from the d3-celestial npm package.

Provenance (see data/NOTICE.md): d3-celestial 0.7.35 by Olaf Frohn, BSD-3-Clause, whose star
data derive from the Hipparcos/HYG catalogues. Run offline against an unpacked package:

    npm pack d3-celestial@0.7.35 && tar xzf d3-celestial-0.7.35.tgz
    python data/build_sky.py package/data

Stars: every star to V magnitude 6.0, plus any fainter star a stick figure passes through,
with its proper name where it has one.
Figures: one row per vertex of each polyline, naming the star by HIP id.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

MAG_LIMIT = 6.0
OUT = Path(__file__).parent / "sky"


def _ra(lon: float) -> float:
    """d3-celestial stores right ascension as longitude in (-180, 180]; we keep 0..360 degrees."""
    return round(lon % 360.0, 4)


def _key(ra: float, dec: float) -> tuple[float, float]:
    return (round(ra % 360.0, 3), round(dec, 3))


def main(src: Path) -> None:
    stars: dict[int, dict] = {}
    by_position: dict[tuple[float, float], int] = {}
    for name in ("stars.6.json", "stars.8.json"):
        for feature in json.loads((src / name).read_text())["features"]:
            hip = int(feature["id"])
            lon, lat = feature["geometry"]["coordinates"]
            props = feature["properties"]
            row = {"hip": hip, "ra_deg": _ra(lon), "dec_deg": round(lat, 4),
                   "mag": float(props["mag"]), "bv": props.get("bv") or ""}
            stars.setdefault(hip, row)
            by_position.setdefault(_key(lon, lat), hip)

    figure_rows, needed = [], set()
    for feature in json.loads((src / "constellations.lines.json").read_text())["features"]:
        for line_no, line in enumerate(feature["geometry"]["coordinates"]):
            for seq, (lon, lat) in enumerate(line):
                hip = by_position.get(_key(lon, lat))
                if hip is None:
                    raise SystemExit(f"{feature['id']} line {line_no}: no star at {lon}, {lat}")
                needed.add(hip)
                figure_rows.append({"constellation": feature["id"], "line": line_no,
                                    "seq": seq, "hip": hip})

    names = json.loads((src / "starnames.json").read_text())
    for hip, star in stars.items():
        star["name"] = names.get(str(hip), {}).get("name", "")

    kept = [s for hip, s in sorted(stars.items()) if s["mag"] <= MAG_LIMIT or hip in needed]
    OUT.mkdir(exist_ok=True)
    _write(OUT / "stars.csv", kept)
    _write(OUT / "figures.csv", figure_rows)
    print(f"{len(kept)} stars, {len(figure_rows)} figure vertices -> {OUT}")


def _write(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
