#!/usr/bin/env python3
"""Rebuilds artifacts/purchase_model.json from the ../shared/data figures.

    python3 tools/export_model.py [--data ../shared/data] [--out artifacts/purchase_model.json]

The same code (purchase_pipeline.export_artifact) exports a data scientist's own fitted pipeline.
Reference checks: synthetic raw rows (one per category level, missing values, every money form),
scored by scikit-learn and embedded so that load_purchase_model refuses a model that disagrees.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from purchase_pipeline import _read_csv, artifact_sha256, build_reference_pipeline, export_artifact  # noqa: E402
from synthetic_customers import synthetic_rows  # noqa: E402


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(here, "..", "..", "shared", "data"))
    parser.add_argument("--out", default=os.path.join(here, "..", "artifacts", "purchase_model.json"))
    args = parser.parse_args()
    pipe = build_reference_pipeline(args.data)
    draft = export_artifact(pipe)
    checks = synthetic_rows(draft, 24, seed=26, as_json=True)
    doc = export_artifact(pipe, checks)
    # The notebook's standard errors of the final coefficients (purchase_model_weights shows them).
    params = {
        r["variable"]: float(r["bse"]) for r in _read_csv(os.path.join(args.data, "glm26_final_logit_params.csv"))
    }
    doc["model"]["std_errors"] = [params[f] for f in doc["model"]["features"]]
    doc.pop("sha256")
    doc["sha256"] = artifact_sha256(doc)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(doc, handle, indent=1, ensure_ascii=False)
        handle.write("\n")
    print(
        f"wrote {args.out}: {len(doc['model']['features'])} features, {len(doc['checks'])} checks, sha256 {doc['sha256']}"
    )


if __name__ == "__main__":
    main()
