import pytest

from assets_defs.catalog import CatalogError, load_catalog, read_catalog, write_catalog
from ray_jobs.storage import storage_root
from tests.conftest import DATA

TWELVE = {"And", "Cas", "Cep", "Per", "Cet", "Ori", "Sco", "Lep", "Eri", "Lyr", "Aql", "Cyg"}


def test_shipped_catalog_has_the_twelve_with_names_stars_figures_and_myths():
    catalog = load_catalog(DATA)
    assert TWELVE <= set(catalog.constellations.abbr)
    lyra = catalog.constellation("Lyr")
    assert (lyra.latin, lyra.chinese) == ("Lyra", "天琴座")
    for abbr in TWELVE:
        assert len(catalog.beats_of(abbr)) >= 3
        assert len(catalog.figures[catalog.figures.constellation == abbr]) >= 3
    # Real positions: Betelgeuse at RA 5h55m (88.79 deg), Dec +7.41; Vega is the zero-point star.
    stars = catalog.stars.set_index("name")
    assert stars.loc["Betelgeuse"].ra_deg == pytest.approx(88.79, abs=0.05)
    assert stars.loc["Betelgeuse"].dec_deg == pytest.approx(7.41, abs=0.05)
    assert stars.loc["Vega"].mag == pytest.approx(0.03, abs=0.1)
    assert len(catalog.stars) > 5000


def test_catalog_round_trips_through_parquet(tmp_path):
    catalog = load_catalog(DATA)
    write_catalog(catalog, storage_root(tmp_path))
    again = read_catalog(storage_root(tmp_path))
    assert again.version == catalog.version
    assert again.beats.equals(catalog.beats)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "beats.parquet", "constellations.parquet", "figures.parquet", "stars.parquet", "version.txt"]


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
        ("constellations.csv", "Lyr,Lyra,The Lyre,天琴座", "Lyr,Lyra,The Lyre,", "constellations.csv row 10 (line 11): field 'chinese' is empty"),
        ("constellations.csv", "Cyg,Cygnus,The Swan,天鹅座,Cygni,12", "Cyg,Cygnus,The Swan,天鹅座,Cygni,twelve", "field 'rotation' is not a int"),
        ("sky/stars.csv", "27989,88.7929,", "27989,388.7929,", "stars.csv row"),
        ("myths/Ori.toml", 'visual = "a giant hunter with a club', 'vision = "a giant hunter with a club', "Ori.toml beat 1: field 'visual' is missing"),
        ("myths/Per.toml", 'focus = "Algol"', 'focus = "Medusa"', "Per.toml beat 2: field 'focus' names unknown star 'Medusa'"),
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
