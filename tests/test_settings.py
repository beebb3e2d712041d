"""One settings model: every variable read once, checked at start-up, documented from the fields."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from starloom_core.settings import PROJECT_ROOT, SECTIONS, SettingsError, StarloomSettings, env_name, parse_size, settings_table


def test_settings_come_from_the_environment_and_options_override_them(monkeypatch):
    monkeypatch.setenv("STARLOOM_STORAGE", "s3://bucket/series")
    monkeypatch.setenv("STARLOOM_SIZE", "832x480")
    monkeypatch.setenv("STARLOOM_BACKEND", "tiny-wan")
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    monkeypatch.setenv("STARLOOM_REVIEW_MIN_MOTION", "0.7")
    settings = StarloomSettings.load({"postproduction.language": "en", "generation.replicas": None})
    assert settings.storage.url == "s3://bucket/series"
    assert (settings.postproduction.width, settings.postproduction.height, settings.postproduction.language) == (832, 480, "en")
    assert (settings.generation.backend, settings.generation.ray_address, settings.generation.replicas) == ("tiny-wan", "10.0.0.5:6379", 1)
    assert settings.review.min_motion == 0.7
    assert settings.generation.resolved_model_dir().endswith("var/models/tiny-wan")


def test_an_empty_variable_keeps_the_default_and_off_turns_the_vertical_cut_off(monkeypatch):
    monkeypatch.setenv("STARLOOM_REPLICAS", "")  # an unset shell variable in a unit file
    monkeypatch.setenv("STARLOOM_VERTICAL_SIZE", "off")
    settings = StarloomSettings.load()
    assert settings.generation.replicas == 1
    assert (settings.postproduction.vertical_width, settings.postproduction.vertical_height) == (0, 0)
    monkeypatch.setenv("STARLOOM_VERTICAL_SIZE", "720x1280")
    assert StarloomSettings.load().postproduction.vertical_size == (720, 1280)


@pytest.mark.parametrize("variable, value, expected", [
    ("STARLOOM_REPLICAS", "abc", "STARLOOM_REPLICAS='abc': Input should be a valid integer"),
    ("STARLOOM_REPLICAS", "0", "STARLOOM_REPLICAS='0': Input should be greater than or equal to 1"),
    ("STARLOOM_SIZE", "abc", "STARLOOM_SIZE='abc': size must look like 1280x720"),
    ("STARLOOM_SIZE", "100000x100000", "larger than 3840x2160"),
    ("STARLOOM_SIZE", "321x180", "both sides must be even"),
    ("STARLOOM_LANGUAGE", "fr", "STARLOOM_LANGUAGE='fr': Input should be 'zh' or 'en'"),
    ("STARLOOM_BACKEND", "wann", "STARLOOM_BACKEND='wann': Input should be 'sky', 'tiny-wan' or 'wan'"),
    ("STARLOOM_DEVICE", "gpu", "device must be cpu, cuda or cuda:N"),
    ("STARLOOM_VAE_TILING", "maybe", "STARLOOM_VAE_TILING='maybe': Input should be a valid boolean"),
    ("STARLOOM_CACHE", "first_block", "cache must look like 'first_block:0.05'"),
    ("STARLOOM_SCHEDULE_AT", "25:00", "STARLOOM_SCHEDULE_AT='25:00': must look like 06:00"),
    ("STARLOOM_WEBHOOK_URL", "hooks.example.com", "must start with http:// or https://"),
    ("STARLOOM_PUBLIC_URL", "cdn.example.com/starloom", "STARLOOM_PUBLIC_URL='cdn.example.com/starloom': public URL must be absolute"),
    ("STARLOOM_PUBLISH_HOUR", "24", "STARLOOM_PUBLISH_HOUR='24': Input should be less than or equal to 23"),
    ("STARLOOM_VOICE", "piper", "STARLOOM_VOICE=piper needs STARLOOM_VOICE_DIR"),
    ("STARLOOM_WRITER_URL", "http://llm:8000/v1", "STARLOOM_WRITER_MODEL is not"),
])
def test_a_bad_value_names_the_variable_and_what_is_allowed(monkeypatch, variable, value, expected):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=re.escape(expected)):
        StarloomSettings.load()


def test_secrets_never_show_in_errors_reprs_or_the_settings_command(monkeypatch):
    monkeypatch.setenv("STARLOOM_WEBHOOK_SECRET", "hunter2-webhook")
    monkeypatch.setenv("STARLOOM_WRITER_API_KEY", "sk-hunter2")
    settings = StarloomSettings.load()
    assert settings.publishing.webhook_secret.get_secret_value() == "hunter2-webhook"
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())
    env = {**__import__("os").environ, "STARLOOM_WEBHOOK_SECRET": "hunter2-webhook", "STARLOOM_WRITER_API_KEY": "sk-hunter2"}
    shown = subprocess.run([sys.executable, "-m", "orchestration.cli", "settings"], capture_output=True, text=True, env=env, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "STARLOOM_WEBHOOK_SECRET=**********" in shown.stdout and "hunter2" not in shown.stdout


def test_a_bad_variable_stops_the_cli_at_once_with_a_usage_error(tmp_path):
    env = {**__import__("os").environ, "STARLOOM_REPLICAS": "abc", "DAGSTER_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "orchestration.cli", "episode", "2026-03-01"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "Error: configuration: STARLOOM_REPLICAS='abc': Input should be a valid integer, unable to parse string as an integer"
    assert "Traceback" not in done.stderr


def test_every_field_is_read_from_one_variable():
    names = [env_name(cls, field) for cls in SECTIONS.values() for field in cls.model_fields]
    assert len(names) == len(set(names)), "two settings read the same variable"
    assert all(re.fullmatch(r"(STARLOOM|RAY)_[A-Z0-9_]+", name) for name in names)


def test_the_readme_table_is_the_one_the_model_generates():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- settings:start -->\n(.*?)\n<!-- settings:end -->", readme, re.S)
    assert block, "README.md lacks the settings table markers"
    assert block[1] == settings_table(), "README's settings table is out of date: paste `starloom settings --markdown`"


def test_sizes_are_bounded():
    assert parse_size("3840x2160") == (3840, 2160) and parse_size("2160x3840") == (2160, 3840)
    with pytest.raises(ValueError, match="larger than 3840x2160"):
        parse_size("4096x2160")
