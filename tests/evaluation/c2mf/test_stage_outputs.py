"""The C2MF stage's data outputs besides its metrics (evaluation/c2mf/_stage_outputs.py): the
metrics of a dataset with C2MF turned off, read by the report layer's page."""

from jaxconcepts.evaluation.c2mf._stage_outputs import disabled_metrics
from jaxconcepts.report import c2mf_disabled_markdown


def test_disabled_dataset_with_enough_images_per_class_says_it_was_turned_off():
    metrics = disabled_metrics("big", 900, 9)
    md = c2mf_disabled_markdown("big", metrics["note"])
    assert "turned off for this dataset (`c2mf.enabled: false`" in md
    assert "900 images in 9 classes (100.0 per class)" in md and "not supported" not in md
    assert metrics["enabled"] is False
