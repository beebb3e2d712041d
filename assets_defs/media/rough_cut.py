"""The rough cut a person watches before approving: an episode's current clips end to end, in scene
and shot order, with no titles, narration or music (those come with `final_episode`, after approval).

Kept beside the decisions under `approvals/<episode>/`, named by the clips it holds, so a cut is
made once per set of clips and a clip made again (after a rejection) gives a new cut.
"""

from __future__ import annotations

import hashlib
import tempfile
from contextlib import ExitStack
from pathlib import Path

from upath import UPath

from assets_defs.models import ReviewedClips
from starloom_core.storage import atomic_put_file, local_copy, resolve_stored
from starloom_core.tools import run_tool


class RoughCutError(RuntimeError):
    """The clips could not be joined; the message keeps ffmpeg's last words."""


def current_clips(reviewed: ReviewedClips) -> list[tuple[int, int, str, str]]:
    """(scene, shot, cache key, stored path) of each shot's clip under review, in the film's order."""
    return sorted((c.clip.scene, c.clip.shot, c.clip.cache_key, c.clip.path) for c in reviewed.clips)


def rough_cut_path(root: UPath, episode: str, reviewed: ReviewedClips) -> UPath:
    """Where the rough cut of exactly these clips lives."""
    keys = "".join(key for _, _, key, _ in current_clips(reviewed))
    return root / "approvals" / episode / f"rough-cut-{hashlib.sha256(keys.encode()).hexdigest()[:12]}.mp4"


def make_rough_cut(root: UPath, episode: str, reviewed: ReviewedClips) -> UPath:
    """The rough cut of the episode's current clips, made now if this set of clips has none yet.
    The clips share one codec, size and rate (one backend made them), so they are joined without
    re-encoding: seconds, not minutes, even for a 720p episode."""
    out = rough_cut_path(root, episode, reviewed)
    if out.exists():
        return out
    clips = current_clips(reviewed)
    if not clips:
        raise RoughCutError(f"{episode} has no clips to join")
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="rough-cut-") as work:
        local = [stack.enter_context(local_copy(resolve_stored(root, path))) for *_, path in clips]
        listing = Path(work) / "clips.txt"
        # The concat demuxer's own quoting: a single quote inside a path is closed, escaped and reopened.
        listing.write_text("".join("file '" + str(p).replace("'", "'\\''") + "'\n" for p in local))
        joined = Path(work) / "rough-cut.mp4"
        proc = run_tool(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
                         "-c", "copy", "-movflags", "+faststart", str(joined)])
        if proc.returncode != 0:
            raise RoughCutError(f"{episode}: joining {len(local)} clips failed: "
                                f"{proc.stderr.decode(errors='replace')[-600:].strip()}")
        atomic_put_file(joined, out)
    return out
