"""Generated datasets with ground truth: the planted-concept benchmark and real-photo objects.

See :mod:`jaxconcepts.datasets._planted` for the planted generator (parts, recipes, determinism)
and the on-disk layout, :mod:`jaxconcepts.datasets._objects` for objects cut out of packaged
photos and pasted on real backgrounds (same layout, the objects as the parts), and
:mod:`jaxconcepts.datasets._writer` for writing/reading both.
"""

from jaxconcepts.datasets._objects import (
    BACKGROUNDS,
    OBJECT_CLASS_NAMES,
    OBJECT_CLASSES,
    BackgroundSource,
    Cutout,
    ObjectClass,
    ObjectsConfig,
    ObjectsImage,
    ObjectSources,
    generate_object_image,
    generate_object_split,
    load_sources,
    package_data_dir,
)
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
from jaxconcepts.datasets._writer import (
    TRUTH_VERSION,
    PlantedTruth,
    load_truth,
    write_objects,
    write_planted,
)

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
    "BACKGROUNDS",
    "OBJECT_CLASS_NAMES",
    "OBJECT_CLASSES",
    "BackgroundSource",
    "Cutout",
    "ObjectClass",
    "ObjectsConfig",
    "ObjectsImage",
    "ObjectSources",
    "generate_object_image",
    "generate_object_split",
    "load_sources",
    "package_data_dir",
    "write_objects",
]
