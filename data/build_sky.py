"""Rebuild data/sky/ (stars, IAU figures and names, the Chinese sky, the Milky Way) from the
d3-celestial npm package.

Provenance (see data/NOTICE.md): d3-celestial 0.7.35 by Olaf Frohn, BSD-3-Clause, whose star
data derive from the Hipparcos/HYG catalogues. Run offline against an unpacked package:

    npm pack d3-celestial@0.7.35 && tar xzf d3-celestial-0.7.35.tgz
    python data/build_sky.py package/data

Stars: every star to V magnitude 6.0, plus any fainter star a stick figure passes through,
with its proper name where it has one.
Figures: one row per vertex of each polyline, naming the star by HIP id.
Constellations: the 88 IAU names (Latin, genitive, English, Chinese in mainland simplified form).
Chinese sky (Stellarium's Chinese sky culture as packaged by d3-celestial): 312 asterisms (the 28
lunar mansions, the Three Enclosures' walls, and the rest) with their lines, vertices named by HIP
where a catalogue star sits there, and the Chinese name (e.g. 织女一) of each star that has one.
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

    chinese_rows, chinese_lines = _chinese_sky(src, by_position, needed)
    names = json.loads((src / "starnames.json").read_text())
    chinese_names = json.loads((src / "starnames.cn.json").read_text())
    for hip, star in stars.items():
        star["name"] = names.get(str(hip), {}).get("name", "")
        star["name_zh"] = chinese_names.get(str(hip), {}).get("name", "")

    kept = [s for hip, s in sorted(stars.items()) if s["mag"] <= MAG_LIMIT or hip in needed]
    # A proper name belongs to one star: where the package gives two stars one name (Markab, for
    # α Pegasi and a star in Puppis), the brighter keeps it, so a myth's focus star is unambiguous.
    owner: dict[str, dict] = {}
    for star in sorted(kept, key=lambda s: s["mag"]):
        if star["name"] and owner.setdefault(star["name"], star) is not star:
            star["name"] = ""
    OUT.mkdir(exist_ok=True)
    _write(OUT / "stars.csv", kept)
    _write(OUT / "figures.csv", figure_rows)
    _write(OUT / "constellations.csv", _constellations(src))
    _write(OUT / "chinese_asterisms.csv", chinese_rows)
    _write(OUT / "chinese_lines.csv", chinese_lines)
    print(f"{len(kept)} stars, {len(figure_rows)} figure vertices, {len(chinese_rows)} Chinese asterisms -> {OUT}")


def _simplified(text: str) -> str:
    import zhconv

    return zhconv.convert(text, "zh-cn")


# Where the package's Chinese name is not the mainland standard (after simplification).
MAINLAND_NAMES = {"Cha": "蝘蜓座"}


def _constellations(src: Path) -> list[dict]:
    rows = {}
    for feature in json.loads((src / "constellations.json").read_text())["features"]:
        props = feature["properties"]
        abbr = feature["id"]
        latin = "Serpens" if abbr == "Ser" else props["name"]  # its two halves (Caput, Cauda) are one constellation
        rows[abbr] = {"abbr": abbr, "latin": latin, "genitive": props["gen"], "english": props["en"],
                      "chinese": MAINLAND_NAMES.get(abbr, _simplified(props["zh"]))}
    return sorted(rows.values(), key=lambda r: r["abbr"])


MANSION_SUFFIX = "宿"


def _chinese_sky(src: Path, by_position: dict, needed: set) -> tuple[list[dict], list[dict]]:
    names = {f["id"]: f["properties"] for f in json.loads((src / "constellations.cn.json").read_text())["features"]}
    asterisms, lines = [], []
    for feature in json.loads((src / "constellations.lines.cn.json").read_text())["features"]:
        props = names[feature["id"]]
        name = _simplified(props["name"])
        kind = ("mansion" if name.endswith(MANSION_SUFFIX) and len(name) == 2
                else "enclosure" if name.endswith("垣") else "asterism")
        ra, dec = props["display"][0], props["display"][1]
        asterisms.append({"name_zh": name, "english": props["en"], "pinyin": props["pinyin"], "kind": kind,
                          "ra_deg": _ra(ra), "dec_deg": round(dec, 4)})
        for line_no, line in enumerate(feature["geometry"]["coordinates"]):
            for seq, (lon, lat) in enumerate(line):
                hip = by_position.get(_key(lon, lat))
                if hip is not None:
                    needed.add(hip)
                lines.append({"asterism": name, "line": line_no, "seq": seq, "ra_deg": _ra(lon),
                              "dec_deg": round(lat, 4), "hip": hip or ""})
    return asterisms, lines


def _write(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
