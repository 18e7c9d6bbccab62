"""Concept maps (§3.4), overlays and figures (§4.3) and the HTML report."""

from jaxconcepts.viz._atlas import (
    concept_usage,
    plot_concept_atlas,
    plot_gate_matrix,
    top_images,
)
from jaxconcepts.viz._c2mf_figures import atlas_figures, c2mf_figures
from jaxconcepts.viz._figures import (
    concept_order,
    overlay,
    plot_compare,
    plot_concepts,
    plot_sub_concepts,
    save_png,
)
from jaxconcepts.viz._image import load_model_view, model_view, to_gray
from jaxconcepts.viz._maps import ConceptMaps, concept_maps, sub_concept_maps
from jaxconcepts.viz._plan import (
    class_namer,
    concept_counts,
    describe_images,
    pick_rows,
    image_figures,
    image_flags,
)
from jaxconcepts.viz._paper_figures import (
    plot_alpha_sweep,
    plot_cluster_boxplots,
    plot_confidence_histograms,
)
from jaxconcepts.viz._report import markdown_to_html, render_report, report_links
from jaxconcepts.viz._sections import dataset_section, missing_links

__all__ = [
    "concept_usage",
    "plot_concept_atlas",
    "plot_gate_matrix",
    "top_images",
    "atlas_figures",
    "c2mf_figures",
    "plot_alpha_sweep",
    "plot_cluster_boxplots",
    "plot_confidence_histograms",
    "ConceptMaps",
    "class_namer",
    "concept_counts",
    "describe_images",
    "pick_rows",
    "image_figures",
    "image_flags",
    "concept_maps",
    "concept_order",
    "dataset_section",
    "missing_links",
    "load_model_view",
    "markdown_to_html",
    "model_view",
    "overlay",
    "plot_compare",
    "plot_concepts",
    "plot_sub_concepts",
    "render_report",
    "report_links",
    "save_png",
    "sub_concept_maps",
    "to_gray",
]
