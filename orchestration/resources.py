"""The resources every asset asks for, built from one StarloomSettings (see starloom_core/settings.py)."""

from __future__ import annotations

from assets_defs.io_manager import StarloomIOManager
from assets_defs.resources import ClipGenerator, Publisher, ScriptWriter, SeriesData, Storage
from starloom_core.settings import StarloomSettings


def build_resources(settings: StarloomSettings) -> dict:
    """Each resource holds its section of the settings; the value-only sections are resources as they are."""
    generation = settings.generation
    if generation.backend == "sky" and generation.clip_size is None:
        generation = generation.model_copy(update={"clip_size": settings.postproduction.size})  # sky draws at the episode's size
    elif generation.backend == "tiny-wan" and not generation.model_dir:
        generation = generation.model_copy(update={"model_dir": generation.resolved_model_dir()})
    return {
        "io_manager": StarloomIOManager(storage_url=settings.storage.url),
        "storage": Storage(settings=settings.storage),
        "series_data": SeriesData(settings=settings.storage),
        "clip_generator": ClipGenerator(settings=generation),
        "clip_review": settings.review,
        "script_writer": ScriptWriter(settings=settings.writer),
        "postproduction": settings.postproduction,
        "publisher": Publisher(settings=settings.publishing),
        "studio": settings.studio,  # where asset metadata links each episode's studio page
    }
