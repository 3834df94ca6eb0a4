-- pg_purchase 0.3.0 -> 0.4.0. Models in purchase.model_versions are kept as they are.
-- Each block below belongs to one change of 0.4.0 and recreates exactly what the current
-- src/**/*.sql defines for the objects it touches (tests/lifecycle/test_nothing_lost.py compares an
-- upgraded database with a fresh install).

-- ---------------------------------------------------------------------------------------------
-- refresh (issue 18 items 1, 12, 15)
-- (end refresh)

-- ---------------------------------------------------------------------------------------------
-- training (issue 18 items 2, 10, 11, 16)
-- (end training)

-- ---------------------------------------------------------------------------------------------
-- rules (issue 18 items 3, 4, 8, 9, 13, 14)
-- (end rules)

-- ---------------------------------------------------------------------------------------------
-- trees (issue 19)
-- purchase_models() gains kind, trees and leaves (a changed result type: dropped and recreated,
-- with its grant to purchase_scorer).
DROP FUNCTION purchase_models();
CREATE FUNCTION purchase_models()
RETURNS TABLE (name text, version integer, active boolean, sha256 text, loaded_at timestamptz,
               loaded_by name, features integer, threshold float8, columns text[],
               format integer, checks integer, metrics jsonb,
               kind text, trees integer, leaves integer)
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT m.name, m.version, m.active, m.sha256, m.loaded_at, m.loaded_by,
         jsonb_array_length(m.artifact->'model'->'features'),
         (m.artifact->>'threshold')::float8,
         ARRAY(SELECT i->>'column' FROM jsonb_array_elements(m.artifact->'inputs') i),
         (m.artifact->>'format_version')::integer,
         coalesce(jsonb_array_length(m.artifact->'checks'), 0),  -- 0: loaded with allow_unchecked
         m.artifact->'training'->'metrics',
         -- trees: the tree format's library; NULL trees and leaves for a logistic model
         CASE m.artifact->>'format'
           WHEN 'pg_purchase.tree_pipeline' THEN
             CASE m.artifact->'model'->>'library'
               WHEN 'sklearn.HistGradientBoostingClassifier' THEN 'hist_gradient_boosting'
               ELSE m.artifact->'model'->>'library' END
           ELSE 'logistic_regression' END,
         CASE WHEN m.artifact->>'format' = 'pg_purchase.tree_pipeline'
              THEN jsonb_array_length(m.artifact->'model'->'trees') END,
         CASE WHEN m.artifact->>'format' = 'pg_purchase.tree_pipeline'
              THEN (SELECT count(*)::integer
                      FROM jsonb_array_elements(m.artifact->'model'->'trees') t,
                           jsonb_array_elements(t->'left') l
                     WHERE l = '-1'::jsonb) END
    FROM purchase.model_versions m
   ORDER BY m.name, m.version
$$;
COMMENT ON FUNCTION purchase_models() IS 'Every loaded model version with its metadata; active marks the version in force; metrics for versions trained by train_purchase_model; kind, and for tree models the number of trees and leaves';
GRANT EXECUTE ON FUNCTION purchase_models() TO purchase_scorer;
-- (end trees)
