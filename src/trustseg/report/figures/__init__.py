"""Journal figures: one function per figure, greyscale-safe, captioned.

The figure kit (:mod:`.kit`: styles, text fitting, atomic and reproducible
saving) is shared; each group of figures drawn by one workflow rule has its
own module: :mod:`.segments` (segment_figures), :mod:`.bootstrap`,
:mod:`.profiles`, :mod:`.cleaning` and :mod:`.chains`.  Every function takes
plain DataFrames/arrays in the shapes of the results contract
(``docs/architecture.md``), writes ``<stem>.png`` plus the requested vector
formats and returns a :class:`~trustseg.report.figures.kit.Figure` with the
written paths and a caption.
"""

from trustseg.report.figures.bootstrap import bootstrap_stability
from trustseg.report.figures.chains import effects_forest, path_diagram
from trustseg.report.figures.cleaning import participant_flow
from trustseg.report.figures.kit import Figure, cjk_font, segment_styles
from trustseg.report.figures.profiles import profile_heatmap
from trustseg.report.figures.segments import (
    coefficient_forest,
    information_criteria,
    posterior_certainty,
    segment_scatter,
)

__all__ = [
    "Figure", "segment_scatter", "information_criteria", "posterior_certainty", "coefficient_forest",
    "bootstrap_stability", "profile_heatmap", "participant_flow", "path_diagram", "effects_forest",
    "segment_styles", "cjk_font",
]
