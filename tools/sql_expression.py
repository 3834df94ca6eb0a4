#!/usr/bin/env python3
"""The hand-written-SQL peer of pg_purchase: an artifact rendered as one plain SQL expression
(translate/cast for cleaning, coalesce for imputing, CASE for one-hot, exp for the logistic).
The benchmark times it against predict_purchase; scores agree to ~1e-15.

    python3 tools/sql_expression.py artifacts/purchase_model.json [alias]
"""

import json
import sys


def _lit(text):
    return "'" + text.replace("'", "''") + "'"


def p_hat_sql(doc, alias="c"):
    kinds = {i["column"]: i["kind"] for i in doc["inputs"]}
    imp = dict(zip(doc["imputer"]["columns"], doc["imputer"]["statistics"]))
    mean = dict(zip(doc["scaler"]["columns"], doc["scaler"]["mean"]))
    scale = dict(zip(doc["scaler"]["columns"], doc["scaler"]["scale"]))
    numeric_terms, category_terms = [], {}
    for feature, coef in zip(doc["model"]["features"], doc["model"]["coefficients"]):
        if feature in kinds and kinds[feature] != "category":
            col = f"{alias}.{feature}"
            if kinds[feature] == "number":
                value = f"{col}::float8"
            else:  # money / percent text: drop $ , % ( ) and spaces; parentheses mean minus
                value = (
                    f"(CASE WHEN {col} LIKE '%(%' THEN -1 ELSE 1 END * "
                    f"nullif(translate({col}, '$,%() ', ''), '')::float8)"
                )
            numeric_terms.append(
                f"{coef!r} * ((coalesce({value}, {imp[feature]!r}) - {mean[feature]!r}) / {scale[feature]!r})"
            )
            continue
        column, _, level = feature.rpartition("_")
        category_terms.setdefault(column, []).append((level, coef))
    cases = []
    for column, levels in category_terms.items():
        col = f"{alias}.{column}"
        whens = " ".join(f"WHEN {col} = {_lit(level)} THEN {coef!r}" for level, coef in levels if level != "nan")
        missing = next((coef for level, coef in levels if level == "nan"), 0.0)
        cases.append(f"CASE WHEN {col} IS NULL OR {col} = '' THEN {missing!r} {whens} ELSE 0 END")
    linear = " + ".join([repr(float(doc["model"]["intercept"]))] + numeric_terms + cases)
    return f"(1 / (1 + exp(-({linear}))))"


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as handle:
        print(p_hat_sql(json.load(handle), sys.argv[2] if len(sys.argv) > 2 else "c"))
