"""stallscope: diagnose Linux memory-allocation stalls from kernel logs.

>>> import stallscope
>>> capture = stallscope.load("dmesg.log")
>>> findings = stallscope.diagnose(capture)

The names below are imported when first used: ``import stallscope`` (and ``stallscope
--version``) must not pay for pandas and the grammars.
"""

from __future__ import annotations

import sys

__version__ = "0.1.0"

# Not typing.TYPE_CHECKING: importing typing is a third of the time `stallscope --version` takes.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from stallscope.api import load
    from stallscope.capture.model import Capture
    from stallscope.diagnose import diagnose
    from stallscope.rules.base import Finding, Severity

# Public name -> (module, attribute), imported on first access.
_LAZY = {
    "load": ("stallscope.api", "load"),
    "diagnose": ("stallscope.diagnose", "diagnose"),
    "Capture": ("stallscope.capture.model", "Capture"),
    "Finding": ("stallscope.rules.base", "Finding"),
    "Severity": ("stallscope.rules.base", "Severity"),
}

__all__ = ["Capture", "Finding", "Severity", "__version__", "diagnose", "load"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _LAZY[name]
    __import__(module)
    value = getattr(sys.modules[module], attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


class _Package(type(sys)):  # type: ignore[misc]  # types.ModuleType, without importing types
    """The package module. Importing a submodule binds it as an attribute of the package, and
    one submodule, ``stallscope.diagnose``, has the name of the function the package offers:
    that binding is skipped, so ``stallscope.diagnose`` stays the function (as it was when the
    package imported it eagerly) whoever imports the submodule first."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _LAZY and isinstance(value, type(sys)):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
