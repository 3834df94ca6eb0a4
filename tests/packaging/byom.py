"""Bring your own model with the installed wheel, inside the packaging test's chroot.

Fits a Pipeline (README, "Bring your own model") on the real raw rows with a synthetic target,
exports it with the wheel's command line (`python -m pg_purchase export`), loads the artifact into
the packaged extension (database `fresh`, PGHOST/PGPORT from in_chroot.sh) and checks that every
row scores within 1e-9 of the pipeline's own predict_proba. Runs with the venv the wheel went
into, so an import the wheel does not declare fails here.

    python byom.py REAL_ROWS.json WORKDIR
"""

import json
import os
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pg_purchase
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

MONEY, PERCENT = ["x12"], ["x63"]
NUMBERS = MONEY + PERCENT + ["x0", "x1", "x2"]
CATEGORIES = ["x5", "x31"]
COLUMNS = NUMBERS + CATEGORIES
TOLERANCE = 1e-9


def psql(*args):
    done = subprocess.run(
        ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-qAt", "-d", "fresh", *args], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"psql {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def main(rows_path, work):
    os.makedirs(work, exist_ok=True)
    os.chmod(work, 0o755)
    with open(rows_path, encoding="utf-8") as handle:
        raw = pd.DataFrame(json.load(handle)).loc[:, COLUMNS]
    frame = pg_purchase.prepare_frame(raw, COLUMNS, NUMBERS, CATEGORIES)
    # The real rows carry no outcome: a synthetic one that depends on the cleaned values.
    noise = np.random.default_rng(2026).normal(0, 1, len(frame))
    y = ((frame["x0"].fillna(0) + 0.5 * frame["x63"].fillna(0) / 10 + noise) > 0).astype(int)
    pipeline = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]), NUMBERS),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORIES),
                    ]
                ),
            ),
            ("clf", LogisticRegression()),
        ]
    ).fit(frame, y)

    paths = {k: os.path.join(work, k) for k in ("pipeline.joblib", "sample.csv", "rows.csv", "model.json")}
    joblib.dump(pipeline, paths["pipeline.joblib"])
    raw.iloc[:200].to_csv(paths["sample.csv"], index=False)
    raw.rename_axis("row_no").to_csv(paths["rows.csv"])
    export = [sys.executable, "-m", "pg_purchase", "export", paths["pipeline.joblib"], "--sample", paths["sample.csv"]]
    export += ["--out", paths["model.json"], "--money", "x12", "--percent", "x63", "--name", "packaging"]
    done = subprocess.run(export, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"python -m pg_purchase export failed: {done.stderr.strip()}")
    print("     " + done.stdout.strip())
    os.chmod(paths["model.json"], 0o644)

    types = ", ".join(f"{c} {'float8' if c in NUMBERS[2:] else 'text'}" for c in COLUMNS)
    psql("-c", f"CREATE TABLE byom_rows (row_no int PRIMARY KEY, {types})")
    psql("-c", f"\\copy byom_rows FROM '{paths['rows.csv']}' WITH (FORMAT csv, HEADER true)")
    psql("-c", f"SELECT load_purchase_model(pg_read_file('{paths['model.json']}')::jsonb, 'byom')")
    answer = psql("-c", "SELECT predict_purchase(r, 'byom') FROM byom_rows r ORDER BY row_no")
    got = np.array([float(x) for x in answer.split()])
    want = pipeline.predict_proba(frame)[:, 1]
    assert len(got) == len(want) == len(raw), f"{len(got)} scores for {len(raw)} rows"
    worst = float(np.max(np.abs(got - want)))
    assert worst <= TOLERANCE, f"max |database - predict_proba| = {worst}"
    print(f"     {len(got)} rows scored by the exported model, max |p - predict_proba| = {worst:.3g}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
