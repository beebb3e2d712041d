"""Episodes for the 28 lunar mansions (二十八宿): the Chinese sky's own division of the Moon's path.

Each mansion gets an astronomy episode written from the sky data: what the mansions are and which
of the four symbols this one belongs to, its stars and the Western constellation they lie in, the
creature its group of seven draws, and how to find it from a bright star. The episode is placed in
tonight's sky by the mansion's own stars, and the renderer draws its lines over that constellation.
"""

from __future__ import annotations

from dataclasses import dataclass

from assets_defs.signposts import signpost_beat
from starloom_core.sky_geometry import angular_distance_deg, mean_direction


@dataclass(frozen=True)
class Symbol:
    """One of the four symbols (四象): seven mansions in a quarter of the sky."""

    zh: str
    en: str
    direction_zh: str
    direction_en: str
    creature_zh: str
    visual: str
    visual_zh: str
    mansions: tuple[str, ...]


SYMBOLS = (
    Symbol("青龙", "Azure Dragon", "东方", "east", "一条腾空的青龙",
           "a vast azure dragon formed of stars coiling across the eastern night sky, Chinese classical painting style",
           "群星组成的巨大青龙在东方夜空中盘旋腾飞，中国古典绘画风格",
           ("角宿", "亢宿", "氐宿", "房宿", "心宿", "尾宿", "箕宿")),
    Symbol("玄武", "Black Tortoise", "北方", "north", "一只与蛇缠绕的玄武",
           "a great black tortoise entwined with a serpent, outlined in stars over the northern sky, Chinese classical painting style",
           "与蛇缠绕的巨大玄武由群星勾勒，横卧在北方夜空，中国古典绘画风格",
           ("斗宿", "牛宿", "女宿", "虚宿", "危宿", "室宿", "壁宿")),
    Symbol("白虎", "White Tiger", "西方", "west", "一只猛扑的白虎",
           "a white tiger of stars pouncing across the western night sky, silver light on its stripes, Chinese classical painting style",
           "群星组成的白虎在西方夜空中猛扑，银光洒在虎纹上，中国古典绘画风格",
           ("奎宿", "娄宿", "胃宿", "昴宿", "毕宿", "觜宿", "参宿")),
    Symbol("朱雀", "Vermilion Bird", "南方", "south", "一只展翅的朱雀",
           "a vermilion bird of stars spreading flaming wings across the southern night sky, Chinese classical painting style",
           "群星组成的朱雀在南方夜空展开火焰般的双翼，中国古典绘画风格",
           ("井宿", "鬼宿", "柳宿", "星宿", "张宿", "翼宿", "轸宿")),
)
ORDINAL_ZH = "一二三四五六七"
ORDINAL_EN = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh")


def mansion_story(name: str, pinyin: str, english: str, members: list[dict], host: dict,
                  signpost: tuple[dict, str, str] | None) -> tuple[dict, list[dict]]:
    """The episode of mansion `name` (e.g. 角宿): `members` are its stars, `host` the Western
    constellation row they mostly lie in, `signpost` a bright star nearby and the side it lies on."""
    symbol, place = next((s, s.mansions.index(name)) for s in SYMBOLS if name in s.mansions)
    short = pinyin.split()[0] if pinyin else name
    brightest = min(members, key=lambda s: s["mag"])
    intro = (f"古人沿着月亮走过的路，把星空分成二十八宿，月亮差不多每晚住进一宿。{name}是{symbol.direction_zh}{symbol.zh}七宿中的"
             f"第{ORDINAL_ZH[place]}宿。",
             f"Ancient Chinese astronomers divided the Moon's path into twenty-eight mansions, and the Moon lodges in about one "
             f"of them each night. {short}, the {english}, is the {ORDINAL_EN[place]} of the seven mansions of the "
             f"{symbol.en} in the {symbol.direction_en}.",
             "a glowing crescent moon travelling along a band of stars divided into lodges, an ancient Chinese star chart "
             "unrolled beneath it",
             "一弯发光的新月沿着分成一段段星宿的星带缓缓行进，下方展开一幅古老的中国星图", "")
    named = brightest["name_zh"] or brightest["name"]
    stars = (f"{name}由{len(members)}颗星连成，它们在西方星座{host['chinese']}之中。"
             + (f"其中最亮的是{named}，亮度约{brightest['mag']:.1f}等。" if named else f"其中最亮的一颗亮度约{brightest['mag']:.1f}等。"),
             f"{short} is drawn from {len(members)} stars in the Western constellation {host['latin']}. "
             + (f"The brightest of them is {brightest['name']}, at magnitude {brightest['mag']:.1f}." if brightest["name"]
                else f"The brightest of them shines at magnitude {brightest['mag']:.1f}."),
             f"{len(members)} stars joined by thin red lines into an ancient Chinese asterism against a deep night sky",
             f"{len(members)}颗星被细细的红线连成一个古老的中国星官，衬着深邃的夜空", brightest["name"] or "")
    creature = (f"{symbol.direction_zh}的七宿连在一起，古人把它们看作{symbol.creature_zh}。它守护着天空的{symbol.direction_zh}，"
                f"{name}就是它身上的一部分。",
                f"Joined together, the seven mansions of the {symbol.direction_en} were seen as the {symbol.en}. It guards the "
                f"{symbol.direction_en}ern quarter of the sky, and {short} is part of its body.",
                symbol.visual, symbol.visual_zh, "")
    beats = [intro, stars, creature]
    if signpost is not None:
        beats.append(signpost_beat(signpost, (name, name), (short, "the mansion"), (
            "月亮经过这里的夜晚，也可以跟着月亮找到它。", "On nights when the Moon passes through, the Moon will lead you there too."),
            ("a brilliant star shining beside a small group of stars, the crescent moon resting nearby",
             "一颗耀眼的亮星旁边是一小群星星，一弯新月静静停在附近")))
    number = 7 * SYMBOLS.index(symbol) + place + 1  # 角宿 is 1, 轸宿 28; 壁宿 and 毕宿 share the pinyin Bi
    story = {"id": f"mansion-{number:02d}-{short.lower().replace('ü', 'v')}", "constellation": host["abbr"], "kind": "astronomy", "culture": "chinese",
             "title_zh": f"二十八宿·{name}", "title_en": f"The Lunar Mansions: {short}, the {english}",
             "source": "Sima Qian, Shiji, Tianguan Shu; Stellarium Chinese sky culture via d3-celestial",
             "asterisms": name, "festival": "", "placed_by": name}
    rows = [{"story": story["id"], "beat": n, "zh": zh, "en": en, "visual": visual, "visual_zh": visual_zh, "focus": focus,
             "transition": ""} for n, (zh, en, visual, visual_zh, focus) in enumerate(beats, start=1)]
    return story, rows


def _centre(stars) -> tuple[float, float]:
    return mean_direction([s["ra_deg"] for s in stars], [s["dec_deg"] for s in stars])


def host_constellation(members: list[dict], figures: dict[str, dict[int, dict]]) -> str:
    """The Western constellation a mansion lies in: the figure holding most of its stars, else the
    figure whose centre is nearest to the mansion's stars. `figures`: each figure's stars by HIP id."""
    hips = {s["hip"] for s in members}
    counts = {abbr: len(hips & own.keys()) for abbr, own in figures.items()}
    most = max(sorted(counts), key=lambda abbr: counts[abbr])
    if counts[most]:
        return most
    ra0, dec0 = _centre(members)
    return min(sorted(figures), key=lambda abbr: float(angular_distance_deg(*_centre(figures[abbr].values()), ra0, dec0)))


def mansion_stories(stars: dict[int, dict], figures: dict[str, dict[int, dict]], constellations: list[dict],
                    asterisms: list[dict], asterism_lines: list[dict], signpost) -> tuple[list[dict], list[dict]]:
    """Every mansion's story and beats from the catalog's rows (`figures`: each figure's stars by HIP
    id). `signpost(members)` finds the bright star to start from. Raises ValueError naming a mansion
    the sky data lacks or cannot place."""
    by_abbr = {row["abbr"]: row for row in constellations}
    rows = {row["name_zh"]: row for row in asterisms}
    stories, beats = [], []
    for symbol in SYMBOLS:
        for name in symbol.mansions:
            if name not in rows:
                raise ValueError(f"mansion {name} is not among the Chinese asterisms")
            hips = {int(line["hip"]) for line in asterism_lines if line["asterism"] == name and str(line["hip"] or "").strip()}
            members = [stars[h] for h in sorted(hips) if h in stars]
            if not members:
                raise ValueError(f"mansion {name} has no catalogued star in its lines")
            host = by_abbr[host_constellation(members, figures)]
            story, story_beats = mansion_story(name, rows[name]["pinyin"] or "", rows[name]["english"], members, host,
                                               signpost(members))
            stories.append(story)
            beats.extend(story_beats)
    return stories, beats
