"""stallscope: diagnose Linux memory-allocation stalls from kernel logs.

>>> import stallscope
>>> capture = stallscope.load("dmesg.log")
>>> findings = stallscope.diagnose(capture)
"""

from __future__ import annotations

__version__ = "0.1.0"

from stallscope.api import load
from stallscope.capture.model import Capture
from stallscope.diagnose import diagnose
from stallscope.rules.base import Finding, Severity

__all__ = ["Capture", "Finding", "Severity", "__version__", "diagnose", "load"]
