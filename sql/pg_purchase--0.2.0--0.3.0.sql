-- pg_purchase 0.2.0 -> 0.3.0. Models in purchase.model_versions are kept as they are.

-- Model insights: published weights, evaluation on outcomes, drift, per-row explanations.
CREATE FUNCTION "purchase_model_weights"("model" TEXT DEFAULT 'default', "version" INT DEFAULT NULL)
RETURNS TABLE ("feature" TEXT, "input_column" TEXT, "coefficient" double precision,
               "std_error" double precision, "odds_ratio" double precision, "rank" INT,
               "mean" double precision, "scale" double precision)
STABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'purchase_model_weights_wrapper';
CREATE FUNCTION "evaluate_purchase_model"("source" regclass, "target_column" TEXT, "model" TEXT DEFAULT 'default')
RETURNS jsonb STRICT STABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'evaluate_purchase_model_wrapper';
CREATE FUNCTION "purchase_drift"("source" regclass, "model" TEXT DEFAULT 'default')
RETURNS TABLE ("column_name" TEXT, "train_mean" double precision, "live_mean" double precision,
               "train_std" double precision, "live_std" double precision,
               "train_null_rate" double precision, "live_null_rate" double precision,
               "unseen_categories" TEXT[], "psi" double precision, "flagged" bool)
STRICT STABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'purchase_drift_wrapper';
CREATE FUNCTION explain_purchase("row" record, model text DEFAULT 'default', top_k integer DEFAULT NULL)
RETURNS TABLE (feature text, raw_value text, model_input float8, coefficient float8, contribution float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  features jsonb := @extschema@.purchase_features("row", model);
  raw jsonb := pg_catalog.to_jsonb("row");
BEGIN
  IF top_k IS NOT NULL AND top_k < 0 THEN
    RAISE EXCEPTION 'top_k must be NULL or at least 0, not %', top_k USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF features IS NULL THEN
    RETURN;  -- a NULL row, as every scoring function answers NULL for it
  END IF;
  RETURN QUERY
    SELECT w.feature, raw OPERATOR(pg_catalog.->>) w.input_column,
           CASE WHEN w.input_column IS NULL THEN 1::float8
                ELSE (features OPERATOR(pg_catalog.->>) w.feature)::float8 END AS model_input,
           w.coefficient,
           w.coefficient OPERATOR(pg_catalog.*) CASE WHEN w.input_column IS NULL THEN 1::float8
                ELSE (features OPERATOR(pg_catalog.->>) w.feature)::float8 END AS contribution
      FROM @extschema@.purchase_model_weights(model) w
     ORDER BY pg_catalog.abs(w.coefficient OPERATOR(pg_catalog.*) CASE WHEN w.input_column IS NULL THEN 1::float8
                ELSE (features OPERATOR(pg_catalog.->>) w.feature)::float8 END) DESC, w.feature
     LIMIT top_k;
END $$;
COMMENT ON FUNCTION explain_purchase(record, text, integer) IS 'Per-feature contributions (coefficient x model input) to one row''s logit; they add up to logit(p_hat)';
GRANT EXECUTE ON FUNCTION explain_purchase(record, text, integer), purchase_model_weights(text, integer),
  evaluate_purchase_model(regclass, text, text), purchase_drift(regclass, text) TO purchase_scorer;

-- Citus: models on every node (src/pg/citus.rs). The catalog becomes a reference table on the
-- first model change on a Citus coordinator; nothing changes without Citus.
CREATE FUNCTION "sync_purchase_models"() RETURNS bigint
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'sync_purchase_models_wrapper';
CREATE FUNCTION purchase.model_catalog_changed() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'model_catalog_changed_wrapper';
COMMENT ON FUNCTION purchase.model_catalog_changed() IS 'On Citus: keeps each node''s model caches in step with its copy of the catalog';
ALTER FUNCTION sync_purchase_models() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION sync_purchase_models() IS 'On a Citus coordinator: puts every model on every node (after citus_add_node); returns the number of nodes holding them';
REVOKE EXECUTE ON FUNCTION sync_purchase_models() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sync_purchase_models() TO purchase_admin;
