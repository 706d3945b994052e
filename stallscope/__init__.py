"""stallscope: diagnose Linux memory-allocation stalls from kernel logs.

>>> import stallscope
>>> capture = stallscope.load("dmesg.log")
>>> findings = stallscope.diagnose(capture)
"""

from __future__ import annotations

__version__ = "0.1.0"

from stallscope.api import load  # noqa: E402
from stallscope.capture.model import Capture  # noqa: E402
from stallscope.diagnose import diagnose  # noqa: E402
from stallscope.rules.base import Finding, Severity  # noqa: E402

__all__ = ["Capture", "Finding", "Severity", "__version__", "diagnose", "load"]
