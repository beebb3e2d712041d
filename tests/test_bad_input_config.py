"""Bad input, part one: configuration and command-line values. Each fails before any run starts,
with exit 2 and a last line naming the variable or argument and what it may be."""

from __future__ import annotations

import pytest

from tests.bad_input import Case, assert_no_step_retried, params, published_storage, run_case  # noqa: F401
from tests.conftest import DAY

CONFIG_CASES = [
    Case("size-not-a-size", ("episode", DAY), r"STARLOOM_SIZE='abc'.*WIDTHxHEIGHT", 2, {"STARLOOM_SIZE": "abc"}),
    Case("size-too-big", ("episode", DAY), r"STARLOOM_SIZE.*3840x2160", 2, {"STARLOOM_SIZE": "100000x100000"}),
    Case("size-odd", ("episode", DAY), r"STARLOOM_SIZE", 2, {"STARLOOM_SIZE": "255x144"}),
    Case("size-option-too-big", ("episode", DAY, "--size", "8000x8000"), r"3840x2160", 2),
    Case("replicas-zero", ("episode", DAY), r"STARLOOM_REPLICAS='0'", 2, {"STARLOOM_REPLICAS": "0"}),
    Case("replicas-word", ("episode", DAY), r"STARLOOM_REPLICAS='abc'", 2, {"STARLOOM_REPLICAS": "abc"}),
    Case("language-unknown", ("episode", DAY), r"STARLOOM_LANGUAGE='fr'.*'zh' or 'en'", 2, {"STARLOOM_LANGUAGE": "fr"}),
    Case("backend-unknown", ("episode", DAY), r"STARLOOM_BACKEND='dalle'", 2, {"STARLOOM_BACKEND": "dalle"}),
    Case("wan-without-weights", ("episode", DAY, "--backend", "wan"), r"STARLOOM_MODEL_DIR", 2),
    Case("wan-weights-not-there", ("episode", DAY, "--backend", "wan"), r"/nowhere/wan.*does not exist", 1,
         {"STARLOOM_MODEL_DIR": "/nowhere/wan"}),
    Case("date-empty", ("episode", ""), r"episode date is empty", 2),
    Case("date-impossible", ("episode", "2026-13-01"), r"2026-13-01", 2),
    # Ray itself waits minutes for a head that is not there.
    Case("ray-address-closed-port", ("episode", DAY), r"no Ray cluster answered at RAY_ADDRESS=127\.0\.0\.1:9 ", 1,
         {"RAY_ADDRESS": "127.0.0.1:9"}),
    Case("ray-address-no-port-number", ("episode", DAY), r"RAY_ADDRESS='head:http' is not HOST:PORT", 1,
         {"RAY_ADDRESS": "head:http"}),
    Case("dagster-home-a-file", ("episode", DAY), r"DAGSTER_HOME.*not a folder", 2,
         {"DAGSTER_HOME": "/etc/hostname"}),
]


@pytest.mark.parametrize("case", params(CONFIG_CASES))
def test_a_configuration_error_stops_the_command_before_any_run(case, tmp_path):
    outcome = run_case(case, tmp_path, None)
    assert not (outcome.storage / "clips").exists()  # nothing was generated
    assert_no_step_retried(outcome.home)


def _broken_model_folder(data) -> None:
    (data / "broken-wan").mkdir()
    (data / "broken-wan" / "model_index.json").write_text('{"_class_name": "WanPipeline", "transformer_2": ["diffusers", "x"]}')


IN_RUN_CASES = [
    # The folder is found only when clips are due: the error comes from inside the run, and the
    # raw_clips step (which retries transport errors) fails at once.
    Case("tiny-wan-folder-incomplete", ("episode", "2026-11-26"), r"broken-wan is incomplete: missing .*transformer", 1,
         {"STARLOOM_BACKEND": "tiny-wan", "STARLOOM_MODEL_DIR": "{data}/broken-wan"}, edit_data=_broken_model_folder),
]


@pytest.mark.parametrize("case", params(IN_RUN_CASES))
def test_a_configuration_error_found_inside_a_run_is_not_retried(case, tmp_path, published_storage):
    outcome = run_case(case, tmp_path, published_storage)
    assert_no_step_retried(outcome.home)


def test_a_ray_address_is_read_as_the_cluster_docs_write_it():
    from starloom_core.net import host_and_port

    assert host_and_port("10.0.0.5:6379", 6379) == ("10.0.0.5", 6379)
    assert host_and_port("ray://head-svc:10001", 6379) == ("head-svc", 10001)
    assert host_and_port("head-svc", 6379) == ("head-svc", 6379)
    assert host_and_port("[::1]:6380", 6379) == ("::1", 6380)
