"""Names a package imports on first use (PEP 562), for the packages whose ``__init__`` would
otherwise load every submodule: ``jaxconcepts``, :mod:`jaxconcepts.store` and
:mod:`jaxconcepts.runners`. A DVC stage then loads only the modules it uses, so it depends on
(and reruns for) those alone.

Usage, in a package's ``__init__``::

    _LAZY = {"ActivationStore": "_activations", ...}  # name -> submodule
    __all__ = list(_LAZY)
    __getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
"""

import importlib
from collections.abc import Callable, Mapping, MutableMapping


def lazy_attributes(package: str, table: Mapping[str, str],
                    namespace: MutableMapping) -> tuple[Callable, Callable]:
    """The module ``__getattr__`` and ``__dir__`` of ``package``: each ``name`` of ``table`` is
    ``getattr`` of the submodule ``package.table[name]``, imported on first access and then
    stored in ``namespace`` (the package's ``globals()``), so later lookups skip the hook. Any
    other name raises ``AttributeError`` as a module's would."""

    def __getattr__(name: str):
        if name in table:
            value = getattr(importlib.import_module(f"{package}.{table[name]}"), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__
