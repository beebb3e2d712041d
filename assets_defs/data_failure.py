"""How an asset that reads data/ fails on a bad file: once, with the file and field named. A step
retry cannot fix a file a person has to edit, so the failure asks Dagster not to retry."""

import contextlib

import dagster as dg

from starloom_core.data_files import DataError


@contextlib.contextmanager
def data_errors_fail_the_step():
    """A DataError inside an asset becomes a dg.Failure with its one-line message and no retry."""
    try:
        yield
    except DataError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
