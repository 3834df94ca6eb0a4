"""The exporter alone (no database): what it refuses, in one line naming the step; what it
keeps (column names, integer category levels, scaler options); its CLI; its RFC 8785 hash."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import joblib
import leads
import numpy as np
import pandas as pd
import pg_purchase
import pytest
from pg_purchase import ExportError, export_pipeline
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler


@pytest.fixture(scope="module")
def data():
    raw, y = leads.raw_leads(1500, 5)
    return raw, leads.training_frame(raw), y


def fit(steps, frame, y):
    return Pipeline(steps).fit(frame, y)


def refusal(pipe, raw, **kw):
    with pytest.raises(ExportError) as e:
        export_pipeline(pipe, raw.head(50), money=leads.MONEY, percent=leads.PERCENT, **kw)
    message = str(e.value)
    assert "\n" not in message
    return message


NUM = ["visits", "tenure_months", "company_size"]


def test_unsupported_steps_are_refused_naming_the_step(data):
    raw, frame, y = data
    pipe = fit(
        [
            ("prep", ColumnTransformer([("num", SimpleImputer(), NUM)])),
            ("forest", RandomForestClassifier(n_estimators=3)),
        ],
        frame,
        y,
    )
    assert "step 'forest'" in refusal(pipe, raw) and "LogisticRegression" in refusal(pipe, raw)
    pipe = fit(
        [
            (
                "prep",
                ColumnTransformer(
                    [("log", Pipeline([("fill", SimpleImputer()), ("f", FunctionTransformer(np.log1p))]), NUM)]
                ),
            ),
            ("clf", LogisticRegression()),
        ],
        frame,
        y,
    )
    assert "step 'prep.log.f': FunctionTransformer is not supported" in refusal(pipe, raw)
    three = np.asarray(y) + (frame["company_size"].to_numpy() > 4000)
    pipe = fit(
        [("prep", ColumnTransformer([("num", SimpleImputer(), NUM)])), ("clf", LogisticRegression())], frame, three
    )
    assert "3 classes" in refusal(pipe, raw)
    pipe = fit(
        [
            ("prep", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="infrequent_if_exist"), ["industry"])])),
            ("clf", LogisticRegression()),
        ],
        frame.fillna({"industry": "x"}),
        y,
    )
    assert "infrequent_if_exist" in refusal(pipe, raw)
    pipe = fit(
        [
            ("prep", ColumnTransformer([("cat", OneHotEncoder(drop=["retail"]), ["industry"])])),
            ("clf", LogisticRegression()),
        ],
        frame.fillna({"industry": "retail"}),
        y,
    )
    assert "drop=" in refusal(pipe, raw)
    pipe = fit(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("a", SimpleImputer(), ["visits"]),
                        ("b", Pipeline([("i", SimpleImputer()), ("s", StandardScaler())]), ["visits"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression()),
        ],
        frame,
        y,
    )
    assert "column 'visits' feeds two transformers" in refusal(pipe, raw)


def test_a_pipeline_fitted_without_column_names_is_refused(data):
    raw, frame, y = data
    pipe = fit([("fill", SimpleImputer()), ("clf", LogisticRegression())], frame[NUM].to_numpy(), y)
    assert "feature_names_in_" in refusal(pipe, raw)


def test_column_order_comes_from_the_fitted_pipeline(data):
    """A model fitted with another column order still reads each column by its name."""
    raw, frame, y = data
    shuffled = frame[list(reversed(frame.columns))]
    pipe = fit(
        [
            (
                "prep",
                ColumnTransformer(
                    [("num", Pipeline([("i", SimpleImputer()), ("s", StandardScaler())]), ["tenure_months", "visits"])]
                ),
            ),
            ("clf", LogisticRegression()),
        ],
        shuffled,
        y,
    )
    doc = export_pipeline(pipe, raw.head(200))
    assert [i["column"] for i in doc["inputs"]] == ["tenure_months", "visits"]
    got = pg_purchase.score_rows(doc, [c["row"] for c in doc["checks"]])
    expected = pipe.predict_proba(leads.training_frame(raw.head(200))[shuffled.columns])[:, 1]
    assert np.max(np.abs(np.array(got) - expected)) <= 1e-9


def test_what_the_artifact_keeps(data):
    raw, frame, y = data
    pipe = fit(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        (
                            "num",
                            Pipeline([("i", SimpleImputer(strategy="median")), ("s", StandardScaler(with_mean=False))]),
                            ["visits"],
                        ),
                        ("cat", OneHotEncoder(drop=None, handle_unknown="error"), ["region_code"]),
                        (
                            "plan",
                            Pipeline(
                                [
                                    ("i", SimpleImputer(strategy="constant", fill_value="none")),
                                    ("o", OneHotEncoder(drop="first")),
                                ]
                            ),
                            ["plan"],
                        ),
                    ]
                ),
            ),
            ("clf", LogisticRegression(fit_intercept=False)),
        ],
        frame,
        y,
    )
    doc = export_pipeline(pipe, raw.head(100), threshold=0.3, name="leads")
    by_column = {i["column"]: i for i in doc["inputs"]}
    visits, region, plan = by_column["visits"], by_column["region_code"], by_column["plan"]
    assert visits["imputer"]["strategy"] == "median" and visits["imputer"]["fill"] == float(frame["visits"].median())
    assert visits["scaler"]["with_mean"] is False and visits["scaler"]["mean"] == 0.0
    # Integer category codes keep their levels, by their text form.
    assert region["encoder"]["categories"] == ["1", "2", "3", "4", "5"]
    assert region["encoder"]["handle_unknown"] == "error" and region["encoder"]["drop"] is None
    assert plan["imputer"] == {"class": "sklearn.impute.SimpleImputer", "strategy": "constant", "fill": "none"}
    assert plan["encoder"]["drop"] == "first" and plan["encoder"]["features"][0] == "plan__plan_none"
    assert doc["model"]["intercept"] == 0.0 and doc["threshold"] == 0.3 and doc["training"]["name"] == "leads"
    assert len(doc["checks"]) == 100 and doc["sha256"] == pg_purchase.artifact_sha256(doc)


def test_rfc8785_hash_matches_the_rust_side():
    # The same text crates/purchase_model/src/canonical.rs asserts for serde_json_canonicalizer.
    import rfc8785

    text = rfc8785.dumps({"z": [-0.0, 1e16, float(2**64), 1e-05], "sha256": "x"} | {})
    assert text == b'{"sha256":"x","z":[0,10000000000000000,18446744073709552000,0.00001]}'
    assert pg_purchase.artifact_sha256({"z": [-0.0], "sha256": "ignored"}) == pg_purchase.artifact_sha256({"z": [0]})


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "pg_purchase", *args], cwd=cwd, capture_output=True, text=True)


def test_cli_exports_and_refuses_in_one_line(data, tmp_path):
    raw, frame, y = data
    pipe = fit(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        (
                            "num",
                            Pipeline([("i", SimpleImputer()), ("s", StandardScaler())]),
                            ["annual_revenue", "discount"],
                        ),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["industry"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression()),
        ],
        frame,
        y,
    )
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    raw.head(300).to_csv(tmp_path / "rows.csv", index=False)
    done = run_cli(
        "export",
        "pipe.joblib",
        "--sample",
        "rows.csv",
        "--out",
        "model.json",
        "--money",
        "annual_revenue",
        "--percent",
        "discount",
        "--threshold",
        "0.6",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "model.json").read_text())
    assert doc["format_version"] == 2 and doc["threshold"] == 0.6 and len(doc["checks"]) == 300
    assert [i["kind"] for i in doc["inputs"]] == ["money", "percent", "category"]
    # A one-hot encoded column named as money: one line, no traceback.
    done = run_cli(
        "export", "pipe.joblib", "--sample", "rows.csv", "--out", "bad.json", "--money", "industry", cwd=tmp_path
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "industry" in done.stderr, done.stderr
    done = run_cli("export", "missing.joblib", "--sample", "rows.csv", "--out", "bad.json", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not os.path.exists(tmp_path / "bad.json")


def test_cli_reads_sample_columns_as_the_pipeline_saw_them(data, tmp_path):
    """Issue 22 item 8: zero-padded codes stay text where the fitted encoder's categories are
    text (pandas alone reads 00501 as 501, and the export failed with a raw numpy TypeError);
    number categories are read as numbers; every error names the column."""
    raw, frame, y = data
    zips = np.array(["00501", "02134", "10001", "94105"])
    raw = raw.assign(zip=zips[np.arange(len(raw)) % 4], tier=(np.arange(len(raw)) % 3) + 1)
    frame = frame.assign(zip=raw["zip"], tier=raw["tier"])
    pipe = fit(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", Pipeline([("i", SimpleImputer()), ("s", StandardScaler())]), ["visits"]),
                        (
                            "zip",
                            Pipeline([("i", SimpleImputer(strategy="most_frequent")), ("o", OneHotEncoder())]),
                            ["zip"],
                        ),
                        ("tier", OneHotEncoder(handle_unknown="ignore"), ["tier"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression()),
        ],
        frame,
        y,
    )
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    raw.head(200).to_csv(tmp_path / "rows.csv", index=False)
    assert "00501" in (tmp_path / "rows.csv").read_text()
    done = run_cli("export", "pipe.joblib", "--sample", "rows.csv", "--out", "model.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "model.json").read_text())
    (zip_input,) = [i for i in doc["inputs"] if i["column"] == "zip"]
    assert zip_input["encoder"]["categories"] == ["00501", "02134", "10001", "94105"]
    assert {c["row"]["zip"] for c in doc["checks"]} == {"00501", "02134", "10001", "94105"}
    (tier,) = [i for i in doc["inputs"] if i["column"] == "tier"]
    assert tier["encoder"]["categories"] == ["1", "2", "3"]
    # The same p_hat as predict_proba on the frame the pipeline was fitted on.
    expected = pipe.predict_proba(frame.head(200))[:, 1]
    assert max(abs(c["p_hat"] - p) for c, p in zip(doc["checks"], expected)) == 0.0
    # A text value in a column whose encoder's categories are numbers: one line naming it.
    bad = raw.head(200).astype({"tier": object})
    bad.loc[bad.index[7], "tier"] = "gold"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    done = run_cli("export", "pipe.joblib", "--sample", "bad.csv", "--out", "bad.json", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "sample column 'tier'" in done.stderr and "'gold' (line 9)" in done.stderr, done.stderr
    # Text in a number column: the cleaning rule's error, naming the column too.
    bad = raw.head(200).astype({"visits": object})
    bad.loc[bad.index[3], "visits"] = "many"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    done = run_cli("export", "pipe.joblib", "--sample", "bad.csv", "--out", "bad.json", cwd=tmp_path)
    assert done.returncode == 2 and "visits" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not os.path.exists(tmp_path / "bad.json")


def test_boolean_category_codes_keep_their_levels(data):
    raw, frame, y = data
    raw = raw.assign(partner=raw["channel"] == "partner")
    frame = frame.assign(partner=raw["partner"])
    pipe = fit(
        [
            ("prep", ColumnTransformer([("flag", OneHotEncoder(drop="if_binary"), ["partner"])])),
            ("clf", LogisticRegression()),
        ],
        frame,
        y,
    )
    doc = export_pipeline(pipe, raw.head(60))
    (partner,) = doc["inputs"]
    assert partner["encoder"]["categories"] == ["false", "true"]
    assert partner["encoder"]["features"] == ["flag__partner_True"]
    assert {c["row"]["partner"] for c in doc["checks"]} == {"false", "true"}


def test_training_rows_become_the_drift_profile(data):
    raw, frame, y = data
    pipe = fit(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", Pipeline([("i", SimpleImputer()), ("s", StandardScaler())]), ["visits"]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression()),
        ],
        frame,
        y,
    )
    doc = export_pipeline(pipe, raw.head(20), training_rows=raw)
    profile = {c["column"]: c for c in doc["profile"]["columns"]}
    assert doc["profile"]["rows"] == len(raw) and set(profile) == {"visits", "plan"}
    visits = frame["visits"].to_numpy(dtype=float)
    present = visits[~np.isnan(visits)]
    v = profile["visits"]
    assert v["null_rate"] == pytest.approx(1 - len(present) / len(visits), abs=1e-15)
    assert v["mean"] == pytest.approx(present.mean(), rel=1e-15) and v["std"] == pytest.approx(present.std(), rel=1e-15)
    assert len(v["bin_edges"]) == 9 and sum(v["bin_fractions"]) == pytest.approx(1.0, abs=1e-12)
    plan = profile["plan"]
    assert sum(plan["categories"].values()) == pytest.approx(1.0, abs=1e-12)
    # Without training rows there is no profile (drift then reports what the pipeline holds).
    assert "profile" not in export_pipeline(pipe, raw.head(20))


def test_redact_checks_keeps_no_sample_row(data):
    """Issue 22 item 4: redact_checks=True keeps as many reference rows, each scored by
    predict_proba and verified like any export, but drawn from the training profile: no value of
    an identifying column is a sample row's, and no row is a sample row."""
    raw, frame, y = data
    pipe = fit(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", Pipeline([("i", SimpleImputer()), ("s", StandardScaler())]), NUM),
                        ("money", Pipeline([("i", SimpleImputer()), ("s", StandardScaler())]), ["annual_revenue"]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["industry"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression()),
        ],
        frame,
        y,
    )
    sample = raw.head(120)
    plain = export_pipeline(pipe, sample, money=leads.MONEY, percent=leads.PERCENT)
    redacted = export_pipeline(pipe, sample, money=leads.MONEY, percent=leads.PERCENT, redact_checks=True)
    again = export_pipeline(pipe, sample, money=leads.MONEY, percent=leads.PERCENT, redact_checks=True)
    assert redacted == again  # seeded: the same inputs give the same artifact
    assert redacted["training"]["checks"] == "synthetic" and "checks" not in plain["training"]
    assert len(redacted["checks"]) == len(plain["checks"]) == 120
    # The model is the same; only the reference rows differ.
    assert redacted["model"] == plain["model"] and redacted["inputs"] == plain["inputs"]
    real_rows = [json.dumps(c["row"], sort_keys=True) for c in plain["checks"]]
    synthetic_rows = [json.dumps(c["row"], sort_keys=True) for c in redacted["checks"]]
    assert not set(real_rows) & set(synthetic_rows)
    # No value of a continuous column is a sample row's (whole-number columns may share values).
    for column in [c for c in NUM if sample[c].dtype.kind == "f"] + ["annual_revenue"]:
        real = {c["row"][column] for c in plain["checks"]} - {None}
        fake = {c["row"][column] for c in redacted["checks"]} - {None}
        assert fake and not real & fake, column
    # Categories are levels of the profile, in its proportions' neighbourhood.
    levels = set(redacted["inputs"][-1]["encoder"]["categories"])
    assert {c["row"]["industry"] for c in redacted["checks"]} - {None} <= levels
    # Each synthetic row's p_hat is predict_proba's for that row (the export verified the
    # artifact's arithmetic against it within 1e-9, as a load does).
    rows = pd.DataFrame([c["row"] for c in redacted["checks"]])
    rows = rows.reindex(columns=sample.columns)
    cleaned = pg_purchase.export.prepare_frame(
        rows, list(pipe.feature_names_in_), NUM + ["annual_revenue"], ["industry"]
    )
    expected = pipe.predict_proba(cleaned)[:, 1]
    assert max(abs(c["p_hat"] - p) for c, p in zip(redacted["checks"], expected)) < 1e-12
