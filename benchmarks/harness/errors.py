"""Benchmark input a user can fix (a corpus without the author's books, no voice run to
measure, an unknown variant): `inkwell bench` prints it as a message and exits 2, as every
other command does with bad input, instead of a traceback."""

from __future__ import annotations

from serving.foundation.errors import InkwellError


class BenchmarkInputError(InkwellError):
    """The message names the folder, file or value and what to do."""
