"""atheris fuzz target: any bytes through the reader, the rules and the JSON report.

Checks what the property tests check (tests/e2e/test_hostile_properties.py), coverage-guided:
nothing raises, and every input's ``parsed + unparsed == lines``.

    pip install atheris
    python fuzz/fuzz_read.py -max_total_time=600 -max_len=4096 fuzz/corpus   # a long run
    python fuzz/fuzz_read.py -runs=500 -max_len=2048                         # .ci/run's short run
"""

from __future__ import annotations

import io
import sys

import atheris

with atheris.instrument_imports():
    import stallscope
    from stallscope.api import load_stream
    from stallscope.render import json_report


def test_one_input(data: bytes) -> None:
    capture = load_stream("fuzz.log", io.BytesIO(data), keep_unparsed=True)
    for one in capture.inputs:
        if one.parsed + one.unparsed != one.lines:
            raise AssertionError(f"lines not all counted: {one}")
    json_report.render(capture, stallscope.diagnose(capture))


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
