"""What the studio page's forms do: check the review token, record a decision, start a special.

Every write needs STARLOOM_REVIEW_TOKEN, sent as `Authorization: Bearer …` or as the cookie the page's
token form sets; with no token configured the page is read-only. Each refusal is an ActionError with
the HTTP status it deserves and a message that says what to do.
"""

from __future__ import annotations

import hmac

from upath import UPath

from assets_defs.approvals import AlreadyDecidedError, ApprovalError, Decision, UnknownEpisodeError, decide
from starloom_core.settings import StarloomSettings
from starloom_core.stored_state import CorruptStateError

TOKEN_COOKIE = "starloom_token"
NAME_COOKIE = "starloom_by"
# The decide form's buttons -> (action, remedy) for approvals.decide
CHOICES = {"approve": ("approve", ""), "reject_new_seed": ("reject", "new_seed"), "revise": ("reject", "revise")}


class ActionError(Exception):
    """A refused request: `status` is its HTTP status, the message says why and what to do."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def check_token(settings: StarloomSettings, header: str, cookie: str) -> None:
    """Pass when the request carries the review token; ActionError 401/403 otherwise."""
    expected = settings.studio.token.get_secret_value()
    if not expected:
        raise ActionError(403, "this studio page is read-only: set STARLOOM_REVIEW_TOKEN where it runs "
                               "(`starloom ui` / `starloom studio`) to allow decisions and specials from it")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else cookie
    if not given:
        raise ActionError(401, "this needs the review token: enter it in the token form on the page "
                               "(or send the header Authorization: Bearer TOKEN)")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ActionError(403, "the review token is wrong: ask whoever runs the studio for STARLOOM_REVIEW_TOKEN")


def token_matches(settings: StarloomSettings, given: str) -> None:
    """The token form's check before it sets the cookie."""
    check_token(settings, "", given.strip())


def decide_from_form(settings: StarloomSettings, root: UPath, key: str, special: bool, form: dict) -> list[Decision]:
    """One submitted decide form (choice, scene, by, note, instruction) recorded as decisions."""
    choice = form.get("choice", "")
    if choice not in CHOICES:
        raise ActionError(400, f"choice must be one of {', '.join(CHOICES)}, not {choice!r}")
    action, remedy = CHOICES[choice]
    scene_text = form.get("scene", "").strip()
    try:
        scene = int(scene_text) if scene_text else None
    except ValueError:
        raise ActionError(400, f"scene must be a number, got {scene_text!r}") from None
    if action == "reject" and scene is None:
        raise ActionError(400, "a rejection names its scene: use the form of the scene to reject")
    instruction = form.get("instruction", "") if remedy == "revise" else ""
    if remedy == "revise" and not instruction.strip():
        raise ActionError(400, f"{key} scene {scene}: the revise instruction is empty; say what to change (\"make the tail glow\")")
    try:
        return decide(settings, root, key, special, action, form.get("by", ""), scene, form.get("note", ""), remedy, instruction)
    except AlreadyDecidedError as error:
        raise ActionError(409, str(error)) from None
    except UnknownEpisodeError as error:
        raise ActionError(404, str(error)) from None
    except ApprovalError as error:
        raise ActionError(400, str(error)) from None
    except CorruptStateError as error:
        raise ActionError(500, str(error)) from None


def check_special(settings: StarloomSettings, text: str) -> str:
    """The special's partition key from the form's text, refused (400) as `starloom special` refuses it."""
    from assets_defs.data_check import validate_data_dir
    from assets_defs.script import SpecialTextError, special_story
    from starloom_core.data_files import DataError
    from starloom_core.series import PartitionDateError, check_special_text

    try:
        key = check_special_text(text)
    except PartitionDateError as error:
        raise ActionError(400, str(error)) from None
    try:
        special_story(validate_data_dir(settings.storage.data_dir, settings.review.text_safety), key)
    except SpecialTextError as error:
        raise ActionError(400, str(error)) from None
    except DataError as error:
        raise ActionError(500, f"data: {error}") from None
    return key
