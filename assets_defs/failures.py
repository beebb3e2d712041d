"""Failures a retry cannot fix fail the step once, in words: a data file a person must edit, a
corrupt stored file, a setting, an episode waiting for a person. Dagster is told not to retry them
(`raw_clips` would otherwise retry for minutes), and the UI shows the one-line message."""

import contextlib
from collections.abc import Callable, Iterator

import dagster as dg

from starloom_core.data_files import DataError
from starloom_core.stored_state import CorruptStateError


@contextlib.contextmanager
def failing_at_once(*kinds: type[Exception], metadata: Callable[[Exception], dict] | None = None,
                    when: Callable[[Exception], bool] | None = None) -> Iterator[None]:
    """An error of one of `kinds` (and, with `when`, only one it accepts) becomes a dg.Failure with
    its message, optional metadata and no retry; any other error passes as it is."""
    try:
        yield
    except kinds as error:
        if when is not None and not when(error):
            raise
        raise dg.Failure(description=str(error), allow_retries=False,
                         metadata=metadata(error) if metadata else None) from None


def data_errors_fail_the_step():
    """A bad file under data/, named with its field."""
    return failing_at_once(DataError)


def failing_at_once_on_corrupt_state():
    """A corrupt stored file, named with what to do: a retry would read the same bytes again."""
    return failing_at_once(CorruptStateError, metadata=lambda error: {"corrupt_file": error.path})
