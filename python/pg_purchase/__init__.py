"""pg_purchase's Python side: export a fitted scikit-learn Pipeline as a model artifact that the
PostgreSQL extension scores exactly (README, "Bring your own model").

    import pg_purchase
    doc = pg_purchase.export_pipeline(pipeline, sample, money=["spend"], percent=["discount"])
"""

from .cleaning import category_text, clean_number, is_missing_category
from .export import ExportError, artifact_sha256, export_pipeline, prepare_frame, score_rows
from .notebook import export_notebook, notebook_predict

__version__ = "0.4.0"
__all__ = [
    "export_pipeline",
    "export_notebook",
    "notebook_predict",
    "ExportError",
    "artifact_sha256",
    "prepare_frame",
    "score_rows",
    "clean_number",
    "category_text",
    "is_missing_category",
]
