"""The concept explorer: a static page per dataset (no server, no network), built from the stages'
outputs. :func:`build_explorer` writes it; :mod:`._payload` holds the numbers it shows, as pure
functions on arrays; the page itself is ``assets/`` (HTML, CSS, JavaScript)."""

from jaxconcepts.explorer._build import (
    DictionaryCodes, ExplorerInputs, build_explorer, dictionary_codes, dictionary_payload,
)
from jaxconcepts.explorer._payload import (
    b64, code_maps_u8, concept_logits, grid_maps, nearest_concepts, softmax, top_k,
)
from jaxconcepts.explorer._write import ExplorerWriter, data_script

__all__ = ["DictionaryCodes", "ExplorerInputs", "dictionary_codes", "build_explorer",
           "dictionary_payload", "b64", "code_maps_u8",
           "concept_logits", "grid_maps", "nearest_concepts", "softmax", "top_k",
           "ExplorerWriter", "data_script"]
