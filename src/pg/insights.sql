
-- Why a row scored as it did: one row per model feature with the raw value, the model input after
-- cleaning/imputing/scaling/encoding, the coefficient and their product; a non-zero intercept is a
-- row of its own. The contributions add up to the logit of p_hat. (PL/pgSQL: SQL functions cannot
-- take a record argument.)
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
    -- "+ 0": a zero input times a negative coefficient is -0 in IEEE arithmetic, and -0 + 0 is
    -- 0 (any other value is unchanged), so no contribution or input prints as -0.
    SELECT w.feature, raw OPERATOR(pg_catalog.->>) w.input_column,
           CASE WHEN w.input_column IS NULL THEN 1::float8
                ELSE (features OPERATOR(pg_catalog.->>) w.feature)::float8 END
             OPERATOR(pg_catalog.+) 0::float8 AS model_input,
           w.coefficient,
           w.coefficient OPERATOR(pg_catalog.*) CASE WHEN w.input_column IS NULL THEN 1::float8
                ELSE (features OPERATOR(pg_catalog.->>) w.feature)::float8 END
             OPERATOR(pg_catalog.+) 0::float8 AS contribution
      FROM @extschema@.purchase_model_weights(model) w
     ORDER BY pg_catalog.abs(w.coefficient OPERATOR(pg_catalog.*) CASE WHEN w.input_column IS NULL THEN 1::float8
                ELSE (features OPERATOR(pg_catalog.->>) w.feature)::float8 END) DESC, w.feature
     LIMIT top_k;
END $$;
COMMENT ON FUNCTION explain_purchase(record, text, integer) IS 'Per-feature contributions (coefficient x model input) to one row''s logit; they add up to logit(p_hat)';
