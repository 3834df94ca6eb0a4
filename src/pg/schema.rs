//! SQL objects pgrx cannot generate from Rust signatures: the catalog, the result type and the
//! V1 scoring functions with their planner support. Every scoring function is STABLE (it reads
//! the model catalog) and PARALLEL SAFE, and writes nothing.

use pgrx::prelude::*;

pgrx::extension_sql!(
    r#"
CREATE SCHEMA purchase;
COMMENT ON SCHEMA purchase IS 'pg_purchase catalog: model versions';

CREATE TABLE purchase.model_versions (
    name      text        NOT NULL CHECK (name <> ''),
    version   integer     NOT NULL CHECK (version > 0),
    artifact  jsonb       NOT NULL,
    sha256    text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    loaded_at timestamptz NOT NULL DEFAULT now(),
    loaded_by name        NOT NULL DEFAULT current_user,
    active    boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (name, version)
);
CREATE UNIQUE INDEX model_versions_one_active ON purchase.model_versions (name) WHERE active;
COMMENT ON TABLE purchase.model_versions IS 'Every loaded model version (immutable); at most one active per name';
SELECT pg_catalog.pg_extension_config_dump('purchase.model_versions', '');
GRANT USAGE ON SCHEMA purchase TO PUBLIC;
GRANT SELECT ON purchase.model_versions TO PUBLIC;

-- Roles: purchase_admin changes models, purchase_scorer scores. Roles are cluster-wide and
-- outlive the extension; they are created only if missing.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'purchase_admin') THEN
    CREATE ROLE purchase_admin NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'purchase_scorer') THEN
    CREATE ROLE purchase_scorer NOLOGIN;
  END IF;
END $$;

CREATE TYPE purchase_score AS (p_hat float8, business_outcome integer, model text, version integer);
"#,
    name = "catalog",
    bootstrap
);

pgrx::extension_sql!(
    r#"
CREATE FUNCTION purchase_planner_support(internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'purchase_planner_support' LANGUAGE C STRICT;

-- COST 100 (x cpu_operator_cost): a call is ~0.3-1 us, about a hundred simple operators. It
-- lets the planner see that scoring a large table is worth parallel workers.

-- The generic path: any row value. CALLED ON NULL INPUT: a NULL row gives NULL, a NULL model
-- name is an error (22004), as for the admin functions.
CREATE FUNCTION predict_purchase("row" record, model text DEFAULT 'default') RETURNS float8
    AS 'MODULE_PATHNAME', 'predict_purchase_row'
    LANGUAGE C STABLE PARALLEL SAFE COST 100 SUPPORT purchase_planner_support;
CREATE FUNCTION purchase_outcome("row" record, model text DEFAULT 'default') RETURNS integer
    AS 'MODULE_PATHNAME', 'purchase_outcome_row'
    LANGUAGE C STABLE PARALLEL SAFE COST 100 SUPPORT purchase_planner_support;
CREATE FUNCTION score_purchase("row" record, model text DEFAULT 'default') RETURNS purchase_score
    AS 'MODULE_PATHNAME', 'score_purchase_row'
    LANGUAGE C STABLE PARALLEL SAFE COST 100 SUPPORT purchase_planner_support;
CREATE FUNCTION purchase_features("row" record, model text DEFAULT 'default') RETURNS jsonb
    AS 'MODULE_PATHNAME', 'purchase_features_row'
    LANGUAGE C STABLE PARALLEL SAFE COST 100 SUPPORT purchase_planner_support;

-- The old web service's contract: raw rows as JSON in, answers as JSON out. strict (the
-- default): each object carries every column the model reads and no key outside the model's
-- inputs. NULL rows give NULL; a NULL model or strict is an error (22004).
CREATE FUNCTION predict_purchase_json("rows" jsonb, "model" text DEFAULT 'default', "strict" boolean DEFAULT true)
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'predict_purchase_json_wrapper' LANGUAGE C STABLE PARALLEL SAFE;

-- What the planner rewrites a table/view row call into: only the columns the model reads.
CREATE FUNCTION predict_purchase_columns(model text, columns text[], VARIADIC "any") RETURNS float8
    AS 'MODULE_PATHNAME', 'predict_purchase_columns' LANGUAGE C STABLE PARALLEL SAFE COST 100;
CREATE FUNCTION purchase_outcome_columns(model text, columns text[], VARIADIC "any") RETURNS integer
    AS 'MODULE_PATHNAME', 'purchase_outcome_columns' LANGUAGE C STABLE PARALLEL SAFE COST 100;
CREATE FUNCTION score_purchase_columns(model text, columns text[], VARIADIC "any") RETURNS purchase_score
    AS 'MODULE_PATHNAME', 'score_purchase_columns' LANGUAGE C STABLE PARALLEL SAFE COST 100;
CREATE FUNCTION purchase_features_columns(model text, columns text[], VARIADIC "any") RETURNS jsonb
    AS 'MODULE_PATHNAME', 'purchase_features_columns' LANGUAGE C STABLE PARALLEL SAFE COST 100;
"#,
    name = "scoring_functions",
    requires = ["catalog"]
);

// Batch refresh of targeting lists and its pg_cron scheduling.
pgrx::extension_sql_file!(
    "refresh.sql",
    name = "refresh",
    requires = ["scoring_functions"]
);

// Model insights in SQL over the Rust functions of insights.rs.
pgrx::extension_sql_file!(
    "insights.sql",
    name = "insights",
    requires = ["scoring_functions", purchase_model_weights]
);

// Lifecycle functions in SQL and the privileges of every function: last, after all others.
pgrx::extension_sql_file!("lifecycle.sql", finalize);

/// Whether the session is inside a transaction block (after BEGIN, or among several statements
/// sent as one query string), where `refresh_purchase_targets` could not commit its run-log
/// entry; it checks first so the caller gets a hint instead of a bare 2D000. Runs no SQL.
/// A V1 function declared in refresh.sql as `purchase.refresh_in_transaction_block()`.
#[unsafe(no_mangle)]
#[doc(hidden)]
pub extern "C" fn pg_finfo_purchase_in_transaction_block() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn purchase_in_transaction_block(
    _fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: reads the current transaction's block state, valid in any backend transaction.
    pg_sys::Datum::from(unsafe { pg_sys::IsTransactionBlock() })
}
