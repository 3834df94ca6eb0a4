-- One row's contributions per model feature (src/pg/explain.rs): coefficient x model input for a
-- logistic model, exact TreeSHAP for a tree model, from the inputs purchase_features gave.
-- version pins a version (NULL: the active one), as purchase_features does.
CREATE FUNCTION purchase.feature_contributions(features jsonb, model text, version integer)
RETURNS TABLE (feature text, input_column text, model_input float8, coefficient float8, contribution float8)
    AS 'MODULE_PATHNAME', 'feature_contributions_wrapper' LANGUAGE C STABLE PARALLEL SAFE;

-- Why a row scored as it did: one row per model feature with the raw value, the model input after
-- cleaning/imputing/scaling/encoding (what the trees read, for a tree model), the coefficient and
-- the contribution. Logistic: coefficient x input, a non-zero intercept a row of its own. Trees:
-- the exact path-dependent TreeSHAP value on the log-odds scale, coefficient NULL, and a row
-- "(expected value)". The contributions add up to the logit of p_hat. by_column => true sums the
-- features of each raw column into one row named after the column (model_input and coefficient
-- only when the column has a single feature). version pins a version (NULL: the active one), as
-- for scoring. (PL/pgSQL: SQL functions cannot take a record.)
CREATE FUNCTION explain_purchase("row" record, model text DEFAULT 'default', top_k integer DEFAULT NULL,
                                 by_column boolean DEFAULT false, version integer DEFAULT NULL)
RETURNS TABLE (feature text, raw_value text, model_input float8, coefficient float8, contribution float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  features jsonb := @extschema@.purchase_features("row", model, version);
  raw jsonb := pg_catalog.to_jsonb("row");
BEGIN
  IF top_k IS NOT NULL AND top_k < 0 THEN
    RAISE EXCEPTION 'top_k must be NULL or at least 0, not %', top_k USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF by_column IS NULL THEN
    RAISE EXCEPTION 'by_column must not be NULL' USING ERRCODE = 'null_value_not_allowed',
      HINT = 'Pass true for one row per raw column, false (the default) for one row per model feature.';
  END IF;
  IF features IS NULL THEN
    RETURN;  -- a NULL row, as every scoring function answers NULL for it
  END IF;
  IF NOT by_column THEN
    RETURN QUERY
      SELECT c.feature, raw OPERATOR(pg_catalog.->>) c.input_column, c.model_input, c.coefficient, c.contribution
        FROM purchase.feature_contributions(features, model, version) c
       ORDER BY pg_catalog.abs(c.contribution) DESC, c.feature
       LIMIT top_k;
  ELSE
    RETURN QUERY
      SELECT COALESCE(c.input_column, pg_catalog.min(c.feature)),
             raw OPERATOR(pg_catalog.->>) c.input_column,
             CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.=) 1 THEN pg_catalog.min(c.model_input) END,
             CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.=) 1 THEN pg_catalog.min(c.coefficient) END,
             pg_catalog.sum(c.contribution)
        FROM purchase.feature_contributions(features, model, version) c
       GROUP BY c.input_column, CASE WHEN c.input_column IS NULL THEN c.feature END
       ORDER BY pg_catalog.abs(pg_catalog.sum(c.contribution)) DESC, 1
       LIMIT top_k;
  END IF;
END $$;
COMMENT ON FUNCTION explain_purchase(record, text, integer, boolean, integer) IS 'Per-feature (or, by_column, per-column) contributions to one row''s logit: coefficient x model input, or exact TreeSHAP for a tree model; they add up to logit(p_hat)';
