import pytest

from assets_defs.catalog import CatalogError, load_catalog, read_catalog, write_catalog
from starloom_core.storage import storage_root
from tests.conftest import DATA

MANSIONS = "角亢氐房心尾箕斗牛女虚危室壁奎娄胃昴毕觜参井鬼柳星张翼轸"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(DATA)


def test_all_88_constellations_with_names_figures_and_stars(catalog):
    assert len(catalog.constellations) == 88 and catalog.constellations.abbr.is_unique
    lyra = catalog.constellation("Lyr")
    assert (lyra.latin, lyra.genitive, lyra.chinese) == ("Lyra", "Lyrae", "天琴座")
    assert catalog.constellation("Cha").chinese == "蝘蜓座"  # the mainland name, not the package's
    assert set(catalog.figures.constellation) == set(catalog.constellations.abbr)
    # Real positions: Betelgeuse at RA 5h55m (88.79 deg), Dec +7.41; Vega is the zero-point star.
    stars = catalog.stars.set_index("name")
    assert stars.loc["Betelgeuse"].ra_deg == pytest.approx(88.79, abs=0.05)
    assert stars.loc["Betelgeuse"].dec_deg == pytest.approx(7.41, abs=0.05)
    assert stars.loc["Vega"].mag == pytest.approx(0.03, abs=0.1)
    assert (stars.loc["Vega"].name_zh, stars.loc["Altair"].name_zh) == ("织女", "牛郎")  # as people say them
    assert len(catalog.stars[catalog.stars.mag <= 6.0]) > 5000
    assert catalog.stars.name[catalog.stars.name != ""].is_unique  # a focus star is never ambiguous


def test_the_chinese_sky_has_the_28_mansions_the_enclosures_and_the_story_asterisms(catalog):
    mansions = set(catalog.asterisms[catalog.asterisms.kind == "mansion"].name_zh)
    assert mansions == {f"{c}宿" for c in MANSIONS}
    walls = set(catalog.asterisms[catalog.asterisms.kind == "enclosure"].name_zh)
    assert {"紫微左垣", "紫微右垣", "太微左垣", "太微右垣", "天市左垣", "天市右垣"} <= walls
    drawn = set(catalog.asterism_lines.asterism)
    assert {"织女", "河鼓", "天津", "北斗", "参宿", "心宿"} <= drawn
    vega_hip = int(catalog.stars.set_index("name").loc["Vega"].hip)
    assert vega_hip in set(catalog.asterism_lines[catalog.asterism_lines.asterism == "织女"].hip.astype(str).replace("", "0").astype(int))


def test_every_constellation_has_a_story_and_there_are_forty_myths(catalog):
    stories = catalog.stories
    myths = stories[stories.kind == "myth"]
    assert len(myths) >= 40 and myths.source.str.len().min() > 10
    assert {"cn-niulang-zhinu", "cn-queqiao", "cn-shen-shang", "cn-beidou", "cn-qinglong", "cn-baihu", "cn-zhuque",
            "cn-xuanwu", "Her", "UMa", "Lyr", "Cyg", "Aql", "Ori", "Sco", "Lep", "Eri", "Per", "And"} <= set(myths.id)
    assert set(stories.constellation) == set(catalog.constellations.abbr)
    for story in stories.itertuples():
        beats = catalog.beats_of(story.id)
        assert 3 <= len(beats) <= 5, story.id
        assert beats.zh.str.strip().all() and beats.en.str.strip().all() and beats.visual.str.strip().all()
    assert catalog.story("cn-queqiao").festival == "qixi"
    assert "织女" in catalog.story("cn-niulang-zhinu").asterisms.split(";")


def test_a_constellation_without_a_myth_gets_an_astronomy_episode_in_whole_sentences(catalog):
    beats = catalog.beats_of("astro-CMa")
    assert catalog.story("astro-CMa").title_en == "Meet Canis Major"
    assert list(beats.zh)[:3] == ["今晚我们认识大犬座，它的拉丁名是Canis Major。它没有流传很广的神话，却有自己的星星和故事。",
                              "它最亮的星是天狼，亮度约-1.4等。那是一颗白色的星。",
                              "11颗星连成了大犬座的图形。用手指在夜空里描一描，就能把它记住。"]
    assert beats.en.iloc[1] == "Its brightest star, Sirius, shines at magnitude -1.4. It is a white star."
    assert beats.focus.iloc[1] == "Sirius"
    # How to find it: from the nearest bright star outside the figure.
    assert beats.zh.iloc[3].startswith("想找到它，先找明亮的") and beats.en.iloc[3].startswith("To find it, start from bright ")
    lynx = catalog.beats_of("astro-Lyn")
    assert lynx.en.iloc[3].startswith("To find it, start from bright Castor: Lynx lies to its north.")


def test_catalog_round_trips_through_parquet(tmp_path, catalog):
    write_catalog(catalog, storage_root(tmp_path))
    again = read_catalog(storage_root(tmp_path))
    assert again.version == catalog.version
    assert again.beats.equals(catalog.beats) and again.stories.equals(catalog.stories)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "asterism_lines.parquet", "asterisms.parquet", "beats.parquet", "constellations.parquet", "figures.parquet",
        "stars.parquet", "stories.parquet", "version.txt"]


def test_a_myth_edit_moves_the_catalog_version_but_not_the_sky_version(data_copy):
    before = load_catalog(data_copy)
    myth = data_copy / "myths" / "Ori.toml"
    myth.write_text(myth.read_text().replace("greatest hunter", "boldest hunter"))
    after = load_catalog(data_copy)
    assert after.version != before.version and after.sky_version == before.sky_version
    stars = data_copy / "sky" / "stars.csv"
    stars.write_text(stars.read_text().replace("27989,88.7929,7.4071,0.45", "27989,88.7929,7.4071,0.50"))
    assert load_catalog(data_copy).sky_version != before.sky_version


@pytest.mark.parametrize(
    "path, old, new, expected",
    [
        ("sky/constellations.csv", "Lyr,Lyra,Lyrae,Lyre,天琴座", "Lyr,Lyra,Lyrae,Lyre,", "constellations.csv row 52 (line 53): field 'chinese' is empty"),
        ("sky/constellations.csv", "Lyr,Lyra,Lyrae,Lyre,天琴座", "Lyr,Lyra,Lyrae,Lyre,天鹅座", "field 'chinese' = '天鹅座' duplicates row"),
        ("sky/stars.csv", "27989,88.7929,", "27989,388.7929,", "stars.csv row"),
        ("sky/figures.csv", "And,0,0,9640", "And,0,0,9999999", "figures.csv row 1 (line 2): field 'hip' names unknown star 9999999"),
        ("myths/Ori.toml", 'visual = "a giant hunter with a club', 'vision = "a giant hunter with a club', "Ori.toml beat 1: field 'visual' is missing"),
        ("myths/Ori.toml", 'zh = "俄里翁是最伟大的猎人，夸口能猎尽世间野兽。', 'zh = "  "\nold = "', "Ori.toml beat 1: field 'zh' is missing or empty"),
        ("myths/Per.toml", 'focus = "Algol"', 'focus = "Medusa"', "Per.toml beat 2: field 'focus' names unknown star 'Medusa'"),
        ("myths/cn-beidou.toml", 'constellation = "UMa"', 'constellation = "Ursa"', "cn-beidou.toml: field 'constellation' = 'Ursa' is not an IAU abbreviation"),
        ("myths/cn-beidou.toml", 'asterisms = ["北斗"]', 'asterisms = ["北斗七"]', "cn-beidou.toml: field 'asterisms' names unknown Chinese asterism(s) 北斗七"),
    ],
)
def test_malformed_rows_name_file_row_and_field(data_copy, path, old, new, expected):
    target = data_copy / path
    text = target.read_text(encoding="utf-8")
    assert old in text
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(CatalogError) as error:
        load_catalog(data_copy)
    assert expected in str(error.value)
    assert str(data_copy) in str(error.value)


def test_every_lunar_mansion_has_its_own_episode_over_the_constellation_it_lies_in(catalog):
    mansions = catalog.stories[catalog.stories.id.str.startswith("mansion-")]
    assert list(mansions.asterisms) == [f"{m}宿" for m in MANSIONS] and mansions.id.is_unique
    host = dict(zip(mansions.asterisms, mansions.constellation))
    assert (host["心宿"], host["参宿"], host["昴宿"], host["斗宿"], host["牛宿"], host["井宿"]) == \
        ("Sco", "Ori", "Tau", "Sgr", "Cap", "Gem")
    xin = catalog.beats_of("mansion-05-xin")
    assert xin.zh.iloc[0].endswith("心宿是东方青龙七宿中的第五宿。")
    assert xin.en.iloc[1].startswith("Xin is drawn from 3 stars in the Western constellation Scorpius.")
    assert xin.focus.iloc[1] == "Antares" and all(xin.visual_zh.str.len() > 10)
    # A signpost star is no farther south than the figure, so it is up whenever the figure is.
    assert catalog.beats_of("mansion-18-mao").en.iloc[-1].startswith("To find Mao, start from bright Capella")


def test_a_mansion_without_stars_in_the_sky_data_is_named(data_copy):
    lines = data_copy / "sky" / "chinese_lines.csv"
    kept = [row for row in lines.read_text(encoding="utf-8").splitlines() if not row.startswith("心宿,")]
    lines.write_text("\n".join(kept) + "\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="chinese_lines.csv: mansion 心宿 has no catalogued star in its lines"):
        load_catalog(data_copy)
