#!/usr/bin/env python3
"""Synthetic customers in the raw formats the scoring service received, drawn from an artifact's
training statistics (imputer mean, scaler scale) and category vocabularies. No real data needed.

    python3 tools/synthetic_customers.py --artifact artifacts/purchase_model.json --rows 100000 > customers.sql

emits SQL that creates and fills a `customers` table inside the database (generate_series), so a
million rows take seconds. synthetic_rows() gives the same kind of rows as Python dicts.
"""

import argparse
import json
import random
import sys

MISSING_RATE = 0.018  # about 1.8% of cells are missing in the real data


def _stats(artifact):
    imp = dict(zip(artifact["imputer"]["columns"], artifact["imputer"]["statistics"]))
    scale = dict(zip(artifact["scaler"]["columns"], artifact["scaler"]["scale"]))
    levels = {e["column"]: e["categories"] for e in artifact["encoder"]["columns"]}
    return imp, scale, levels


def _money_text(value, style):
    body = f"{abs(value):,.2f}"
    if value < 0:
        return [f"${'-' + body}", f"(${body})", f"(${body})"][style % 3]
    return [f"${body}", f"${body} ", f"${body}"][style % 3]


def synthetic_rows(artifact, n, seed=1, as_json=True):
    """n raw rows as dicts: every category level in turn, missing cells, all money forms,
    some numbers sent as strings, and now and then a category never seen in training."""
    rnd = random.Random(seed)
    imp, scale, levels = _stats(artifact)
    rows = []
    for i in range(n):
        row = {}
        for spec in artifact["inputs"]:
            col, kind = spec["column"], spec["kind"]
            if rnd.random() < MISSING_RATE * 3:
                row[col] = None if rnd.random() < 0.7 else ""
                continue
            if kind == "category":
                vocab = levels[col]
                row[col] = "Someday" if i % 11 == 10 else vocab[(i + rnd.randrange(len(vocab))) % len(vocab)]
                continue
            value = rnd.gauss(imp[col], scale[col])
            if kind == "money":
                row[col] = _money_text(round(value, 2), i)
            elif kind == "percent":
                row[col] = f"{value:.2f}%"
            else:
                value = round(value, 8)
                row[col] = str(value) if i % 7 == 3 else value
        rows.append(row)
    return rows


def customers_table_sql(artifact, n, table="customers", seed=0.26):
    """CREATE TABLE + INSERT ... generate_series: raw text for money/percent/categories."""
    imp, scale, levels = _stats(artifact)
    cols, exprs = [], []
    for spec in artifact["inputs"]:
        col, kind = spec["column"], spec["kind"]
        miss = f"CASE WHEN random() < {MISSING_RATE} THEN NULL ELSE "
        # random() inside a correlated subquery (the "+ 0 * g") is drawn per row, not once.
        normal = (
            f"({imp.get(col, 0)!r} + {scale.get(col, 1)!r} * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))"
        )
        if kind == "category":
            vocab = levels[col]
            arr = "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in vocab) + "]"
            cols.append(f"{col} text")
            exprs.append(f"{miss}({arr})[1 + floor(random() * {len(vocab)})::int] END")
        elif kind == "money":
            cols.append(f"{col} text")
            exprs.append(
                f"{miss}(SELECT CASE WHEN v >= 0 THEN '$' || to_char(v, 'FM999,999,990.00') || "
                f"CASE WHEN random() < 0.5 THEN ' ' ELSE '' END "
                f"WHEN random() < 0.5 THEN '($' || to_char(-v, 'FM999,999,990.00') || ')' "
                f"ELSE '$-' || to_char(-v, 'FM999,999,990.00') END FROM (SELECT round(({normal} + 0 * g)::numeric, 2) AS v) m) END"
            )
        elif kind == "percent":
            cols.append(f"{col} text")
            exprs.append(f"{miss}to_char({normal}, 'FM99990.00') || '%' END")
        else:
            cols.append(f"{col} float8")
            exprs.append(f"{miss}round({normal}::numeric, 6)::float8 END")
    return (
        f"DROP TABLE IF EXISTS {table};\n"
        f"CREATE TABLE {table} (customer_id bigint PRIMARY KEY, {', '.join(cols)});\n"
        f"SELECT setseed({seed});\n"
        f"INSERT INTO {table} SELECT g, {', '.join(exprs)} FROM generate_series(1, {int(n)}) g;\n"
        f"ANALYZE {table};\n"
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--table", default="customers")
    args = parser.parse_args()
    with open(args.artifact, encoding="utf-8") as handle:
        artifact = json.load(handle)
    sys.stdout.write(customers_table_sql(artifact, args.rows, args.table))


if __name__ == "__main__":
    main()
