"""Writes the SQL the packaging test runs in its chroot: a `customers` table with real raw rows of
../shared/data, as the service received them, and an `expected` table with scikit-learn's p_hat
for each (tools/purchase_pipeline.py, the objects the bundled model was exported from: the parity
oracle of the source build's tests). Runs on the host, where the reference data and scikit-learn
are; the chroot gets only this generated file (under target/, never committed).

    python reference_rows.py OUT.sql [ROWS]
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from purchase_pipeline import build_reference_pipeline  # noqa: E402

DATA_DIR = os.environ.get("SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))


def literal(value):
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def main(out_path, count=5):
    with open(os.path.join(ROOT, "artifacts", "purchase_model.json"), encoding="utf-8") as handle:
        artifact = json.load(handle)
    with open(os.path.join(DATA_DIR, "exercise_26_test_first1000rows_raw.json"), encoding="utf-8") as handle:
        rows = json.load(handle)[:count]
    expected = build_reference_pipeline(DATA_DIR).predict_proba(rows)
    columns = [spec["column"] for spec in artifact["inputs"]]
    types = {spec["column"]: ("float8" if spec["kind"] == "number" else "text") for spec in artifact["inputs"]}
    lines = [
        "CREATE TABLE customers (row_no int PRIMARY KEY, " + ", ".join(f"{c} {types[c]}" for c in columns) + ");",
        "CREATE TABLE expected (row_no int PRIMARY KEY, p_hat float8 NOT NULL);",
    ]
    for i, row in enumerate(rows):
        values = ", ".join(literal(row.get(c)) for c in columns)
        lines.append(f"INSERT INTO customers VALUES ({i}, {values});")
        # repr: the shortest text that reads back as the same double.
        lines.append(f"INSERT INTO expected VALUES ({i}, {float(expected[i])!r});")
    with open(out_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5)
