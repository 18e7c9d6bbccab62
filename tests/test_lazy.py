"""``jaxconcepts/_lazy.py``: the one PEP 562 hook of the three lazy packages."""

import importlib

import pytest

from jaxconcepts._lazy import lazy_attributes


@pytest.mark.parametrize("package", ["jaxconcepts", "jaxconcepts.store", "jaxconcepts.runners"])
def test_lazy_names_are_stored_once_loaded_and_others_raise(package):
    """The three lazy packages share one PEP 562 hook (``jaxconcepts._lazy``): a name loads its
    submodule on first access and is then a plain global; an unknown name is an AttributeError
    naming the package, as any module's."""
    mod = importlib.import_module(package)
    name = mod.__all__[-1]
    value = getattr(mod, name)
    assert vars(mod)[name] is value and name in dir(mod)
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nope'"):
        mod.nope


def test_the_hook_on_a_namespace_of_its_own():
    ns = {}
    getattr_, dir_ = lazy_attributes("jaxconcepts", {"tune_malloc": "_malloc"}, ns)
    from jaxconcepts._malloc import tune_malloc

    assert dir_() == ["tune_malloc"] and ns == {}
    assert getattr_("tune_malloc") is tune_malloc and ns == {"tune_malloc": tune_malloc}
    with pytest.raises(AttributeError, match="module 'jaxconcepts' has no attribute 'x'"):
        getattr_("x")
