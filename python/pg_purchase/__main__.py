"""python -m pg_purchase export PIPELINE.joblib --sample ROWS.csv --out MODEL.json
       [--money COL]... [--percent COL]... [--threshold T] [--name NAME] [--profile ROWS.csv]
       [--redact-checks]

Every refusal is one line on stderr (exit status 2), never a traceback."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pg_purchase")
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="export a fitted Pipeline (joblib) as a pg_purchase artifact")
    export.add_argument("pipeline", help="the fitted sklearn Pipeline, saved with joblib.dump")
    export.add_argument("--sample", required=True, help="CSV of raw rows as they sit in the table")
    export.add_argument("--out", required=True, help="where to write the artifact (JSON)")
    export.add_argument("--money", action="append", default=[], help="a money-text column (repeatable)")
    export.add_argument("--percent", action="append", default=[], help="a percent-text column (repeatable)")
    export.add_argument("--threshold", type=float, default=0.5, help="business threshold (default 0.5)")
    export.add_argument("--name", default=None, help="a name recorded in the artifact's training metadata")
    export.add_argument(
        "--redact-checks",
        action="store_true",
        help="store synthetic reference rows drawn from the training profile instead of sample rows",
    )
    export.add_argument(
        "--profile", default=None, help="CSV of training rows (raw, like --sample) summarised as the drift baseline"
    )
    args = parser.parse_args(argv)
    try:
        import joblib

        from .calibrated import columns_source
        from .export import ExportError, export_pipeline
        from .sample_csv import read_sample
    except ImportError as e:  # a broken install: still one line
        print(f"pg_purchase export: error: {e}", file=sys.stderr)
        return 2
    try:
        pipeline = joblib.load(args.pipeline)
        # Each column as the pipeline saw it: money/percent as text, exactly as the table holds
        # them; codes such as 00501 as text where the fitted encoder's categories are text.
        typed_by = columns_source(pipeline)  # a CalibratedClassifierCV: its pipeline
        sample = read_sample(args.sample, typed_by, args.money, args.percent)
        training_rows = read_sample(args.profile, typed_by, args.money, args.percent) if args.profile else None
        doc = export_pipeline(
            pipeline,
            sample,
            money=args.money,
            percent=args.percent,
            threshold=args.threshold,
            name=args.name,
            training_rows=training_rows,
            redact_checks=args.redact_checks,
        )
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(doc, handle, ensure_ascii=False, allow_nan=False)
            handle.write("\n")
    except ExportError as e:
        print(f"pg_purchase export: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # files, joblib, CSV: one line naming what failed
        print(f"pg_purchase export: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.out}: {len(doc['model']['features'])} features, {len(doc['inputs'])} columns, "
        f"{len(doc['checks'])} checks, sha256 {doc['sha256']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
