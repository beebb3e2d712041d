import numpy as np
import pytest

from assets_defs.catalog import load_catalog, write_catalog
from ray_jobs.backends.sky import SkyBackend, stereographic
from ray_jobs.requests import ClipRequest
from starloom_core.storage import catalog_dir, storage_root
from tests.conftest import DATA


class Sky:
    """The backend bound to one storage root, as a replica calls it."""

    def __init__(self, root):
        self.backend, self.root = SkyBackend(), root

    def generate(self, request):
        return self.backend.generate(request, self.root)


@pytest.fixture(scope="module")
def sky(tmp_path_factory):
    root = storage_root(tmp_path_factory.mktemp("storage"))
    write_catalog(load_catalog(DATA), catalog_dir(root))
    return Sky(root)


def _request(constellation="Ori", focus="Betelgeuse", shot="focus", frames=12, seed=3):
    return ClipRequest("2026-11-27/scene-1", "sky", "sky-1", "p", "n", seed, 320, 180, frames, 24, 1, 0.0,
                       constellation, focus, shot)


def test_frames_have_the_requested_shape_and_show_stars(sky):
    frames = sky.generate(_request())
    assert frames.shape == (12, 180, 320, 3) and frames.dtype == np.uint8
    assert 5 < frames.mean() < 80  # a night sky, not black and not washed out
    assert (frames.max(axis=-1) > 200).sum() > 20  # bright star cores
    assert np.abs(frames[-1].astype(int) - frames[0]).mean() > 0.3  # the camera moves


def test_reveal_shot_draws_the_figure_over_time(sky):
    frames = sky.generate(_request(shot="reveal", frames=24))
    line_pixels = [(np.abs(f.astype(int) - (150, 190, 255)).sum(-1) < 150).sum() for f in frames]
    assert line_pixels[0] < line_pixels[12] <= line_pixels[-1] + 5


def test_same_request_renders_the_same_frames(sky):
    assert np.array_equal(sky.generate(_request(frames=3)), sky.generate(_request(frames=3)))


def test_projection_keeps_the_sky_as_seen_from_earth():
    # Betelgeuse (RA 88.8, Dec 7.4) lies east of Rigel (78.6, -8.2): left and above on screen.
    x, y, _ = stereographic(np.array([88.79, 78.63]), np.array([7.41, -8.2]), 83.8, 0.0)
    assert x[0] < x[1] and y[0] > y[1]


def test_unknown_constellation_names_the_scene(sky):
    with pytest.raises(KeyError, match="2026-11-27/scene-1: constellation 'Xyz'"):
        sky.generate(_request(constellation="Xyz"))


def test_a_close_shot_centres_on_the_scenes_star_and_a_wide_one_shows_the_whole_figure(sky):
    from dataclasses import replace

    def lines(frame):  # pixels of the figure's stick lines
        return (np.abs(frame.astype(int) - (150, 190, 255)).sum(-1) < 150).sum()

    wide, close = (sky.generate(replace(_request(frames=1), framing=f))[0] for f in ("wide", "close"))
    middle = close[80:100, 150:170].astype(int)  # 20×20 pixels at the frame's centre
    y, x = np.unravel_index(middle.max(-1).argmax(), middle.shape[:2])
    r, _, b = middle[y, x]
    assert middle.max() > 200 and r > b  # Betelgeuse: bright and orange, where the camera points
    assert lines(close) < lines(wide)  # pushed in, most of Orion's figure is out of frame


@pytest.mark.parametrize("framing", ["medium", "close"])
def test_a_closer_shot_of_tonights_sky_shows_sky_and_moves_even_when_the_figure_is_down(sky, framing):
    from dataclasses import replace

    # Scorpius from Beijing at 21:00 on 2026-11-27 (sidereal time 17.9°): set, facing west.
    request = replace(_request(constellation="Sco", focus="", shot="tonight", frames=48, seed=290751966),
                      horizon=(39.9042, 17.866, 260.5), framing=framing)
    frames = sky.generate(request).astype(float).mean(axis=-1)
    assert frames[0, :60].mean() > frames[0, -20:].mean() + 2  # the sky above the dark ground, not all ground
    assert np.abs(frames[-1] - frames[0]).mean() > 1.0  # the camera pans along the horizon: the review sees motion
