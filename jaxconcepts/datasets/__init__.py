"""Generated datasets with ground truth: the planted-concept benchmark.

See :mod:`jaxconcepts.datasets._planted` for the generator (parts, recipes, determinism) and the
on-disk layout, :mod:`jaxconcepts.datasets._writer` for writing/reading it.
"""

from jaxconcepts.datasets._planted import (
    CLASS_NAMES,
    PARTS,
    RECIPES,
    SPLIT_IDS,
    PartPlacement,
    PlantedConfig,
    PlantedImage,
    allowed_distractors,
    class_folder,
    generate_image,
    generate_split,
    image_rng,
    render_part,
)
from jaxconcepts.datasets._writer import TRUTH_VERSION, PlantedTruth, load_truth, write_planted

__all__ = [
    "CLASS_NAMES",
    "PARTS",
    "RECIPES",
    "SPLIT_IDS",
    "PartPlacement",
    "PlantedConfig",
    "PlantedImage",
    "allowed_distractors",
    "class_folder",
    "generate_image",
    "generate_split",
    "image_rng",
    "render_part",
    "TRUTH_VERSION",
    "PlantedTruth",
    "load_truth",
    "write_planted",
]
