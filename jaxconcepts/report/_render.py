"""The Jinja environment of the report layer: the templates ship in the package
(``jaxconcepts/report/templates/*.md.j2``) and see :func:`~jaxconcepts.report._format.num`,
``pm`` and ``interval`` as filters and ``table`` as a function."""

from __future__ import annotations

import functools

from jaxconcepts.report._format import interval, num, pm, table

__all__ = ["render"]


@functools.cache
def _env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("jaxconcepts.report", "templates"),
                             autoescape=False, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=num, pm=pm, interval=interval)
    env.globals.update(table=table)
    return env


def render(template: str, **context) -> str:
    """The template ``templates/<template>`` rendered with ``context``."""
    return _env().get_template(template).render(**context)
