-- The V1 scoring functions (scoring/entry_points.rs) and their planner support (planner.rs).
-- Every scoring function is STABLE (it reads the model catalog) and PARALLEL SAFE, and writes
-- nothing.
CREATE FUNCTION purchase_planner_support(internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'purchase_planner_support' LANGUAGE C STRICT;

-- COST 100 (x cpu_operator_cost): a call costs about a hundred simple operators (bench/run.sh
-- times it against the hand-written SQL expression of the model). It lets the planner see that
-- scoring a large table is worth parallel workers.

-- The generic path: any row value. CALLED ON NULL INPUT: a NULL row gives NULL, a NULL model
-- name is an error (22004), as for the admin functions. version pins a version of the model
-- (staged or retired alike); NULL, the default, is the active version.
CREATE FUNCTION predict_purchase("row" record, model text DEFAULT 'default', version integer DEFAULT NULL) RETURNS float8
    AS 'MODULE_PATHNAME', 'predict_purchase_row'
    LANGUAGE C STABLE PARALLEL SAFE COST 100 SUPPORT purchase_planner_support;
CREATE FUNCTION purchase_outcome("row" record, model text DEFAULT 'default', version integer DEFAULT NULL) RETURNS integer
    AS 'MODULE_PATHNAME', 'purchase_outcome_row'
    LANGUAGE C STABLE PARALLEL SAFE COST 100 SUPPORT purchase_planner_support;
CREATE FUNCTION score_purchase("row" record, model text DEFAULT 'default', version integer DEFAULT NULL) RETURNS purchase_score
    AS 'MODULE_PATHNAME', 'score_purchase_row'
    LANGUAGE C STABLE PARALLEL SAFE COST 100 SUPPORT purchase_planner_support;
CREATE FUNCTION purchase_features("row" record, model text DEFAULT 'default', version integer DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'purchase_features_row'
    LANGUAGE C STABLE PARALLEL SAFE COST 100 SUPPORT purchase_planner_support;

-- The old web service's contract: raw rows as JSON in, answers as JSON out. strict (the
-- default): each object carries every column the model reads and no key outside the model's
-- inputs. NULL rows give NULL; a NULL model or strict is an error (22004). version as above.
CREATE FUNCTION predict_purchase_json("rows" jsonb, "model" text DEFAULT 'default', "strict" boolean DEFAULT true,
                                      "version" integer DEFAULT NULL)
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

-- What a call with a constant version pin is rewritten into: that version's columns only.
-- (A name of their own: overloads of the *_columns names would make direct calls with untyped
-- literals ambiguous.)
CREATE FUNCTION predict_purchase_version_columns(model text, version integer, columns text[], VARIADIC "any") RETURNS float8
    AS 'MODULE_PATHNAME', 'predict_purchase_version_columns' LANGUAGE C STABLE PARALLEL SAFE COST 100;
CREATE FUNCTION purchase_outcome_version_columns(model text, version integer, columns text[], VARIADIC "any") RETURNS integer
    AS 'MODULE_PATHNAME', 'purchase_outcome_version_columns' LANGUAGE C STABLE PARALLEL SAFE COST 100;
CREATE FUNCTION score_purchase_version_columns(model text, version integer, columns text[], VARIADIC "any") RETURNS purchase_score
    AS 'MODULE_PATHNAME', 'score_purchase_version_columns' LANGUAGE C STABLE PARALLEL SAFE COST 100;
CREATE FUNCTION purchase_features_version_columns(model text, version integer, columns text[], VARIADIC "any") RETURNS jsonb
    AS 'MODULE_PATHNAME', 'purchase_features_version_columns' LANGUAGE C STABLE PARALLEL SAFE COST 100;
