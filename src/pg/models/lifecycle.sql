
-- Model lifecycle: listing and exporting versions (SQL), privileges of the two roles.
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

CREATE FUNCTION export_purchase_model(name text DEFAULT 'default', version integer DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE doc jsonb;
BEGIN
  -- The artifact holds the reference rows (checks), which may be real customer rows: it is
  -- purchase_admin's, and the refusal says so (EXECUTE alone would name no role).
  IF NOT pg_has_role('purchase_admin', 'USAGE') THEN
    RAISE EXCEPTION 'permission denied for function export_purchase_model'
      USING ERRCODE = 'insufficient_privilege',
            HINT = format('The artifact holds the reference rows in checks; exporting is for purchase_admin: GRANT purchase_admin TO %I;', current_user);
  END IF;
  SELECT m.artifact INTO doc FROM purchase.model_versions m
   WHERE m.name = export_purchase_model.name
     AND (m.version = export_purchase_model.version OR (export_purchase_model.version IS NULL AND m.active));
  IF doc IS NULL THEN
    RAISE EXCEPTION 'purchase model "%" has no %', name,
          coalesce('version ' || version, 'active version')
      USING ERRCODE = 'undefined_object', HINT = 'SELECT * FROM purchase_models() lists every version.';
  END IF;
  RETURN doc;
END $$;
COMMENT ON FUNCTION export_purchase_model(text, integer) IS 'The stored artifact of a version (the active one by default); load_purchase_model of it scores identically';

-- Roles (created in the bootstrap SQL): purchase_admin changes models, purchase_scorer scores.
GRANT purchase_scorer TO purchase_admin;

-- The catalog is written only through the SECURITY DEFINER functions below, and read directly
-- only by purchase_admin: its artifacts hold the reference rows (checks). Scoring and the
-- insight functions read it as its owner (catalog.rs as_catalog_owner; purchase_models() and
-- explain_purchase are SECURITY DEFINER), so EXECUTE on them alone decides who scores.
REVOKE ALL ON purchase.model_versions FROM PUBLIC;
GRANT SELECT ON purchase.model_versions TO purchase_admin;
ALTER FUNCTION purchase_models() SECURITY DEFINER;
-- explain_purchase, whatever its arguments (it calls purchase_features, which the README's recipe
-- may revoke from PUBLIC; EXECUTE on explain_purchase is what decides).
DO $$
DECLARE f regprocedure;
BEGIN
  FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
            WHERE p.proname = 'explain_purchase' AND p.pronamespace = '@extschema@'::regnamespace LOOP
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER', f);
  END LOOP;
END $$;

ALTER FUNCTION load_purchase_model(jsonb, text, boolean, boolean, boolean) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION load_purchase_model_file(text, text, boolean, boolean, boolean) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION activate_purchase_model(text, integer) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION drop_purchase_model(text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION load_purchase_model(jsonb, text, boolean, boolean, boolean), load_purchase_model_file(text, text, boolean, boolean, boolean),
  activate_purchase_model(text, integer), drop_purchase_model(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION load_purchase_model(jsonb, text, boolean, boolean, boolean), load_purchase_model_file(text, text, boolean, boolean, boolean),
  activate_purchase_model(text, integer), drop_purchase_model(text), export_purchase_model(text, integer) TO purchase_admin;
GRANT EXECUTE ON FUNCTION predict_purchase(record, text, integer), purchase_outcome(record, text, integer),
  score_purchase(record, text, integer), purchase_features(record, text, integer),
  predict_purchase_json(jsonb, text, boolean, integer),
  predict_purchase_columns(text, text[], "any"), purchase_outcome_columns(text, text[], "any"),
  score_purchase_columns(text, text[], "any"), purchase_features_columns(text, text[], "any"),
  predict_purchase_version_columns(text, integer, text[], "any"), purchase_outcome_version_columns(text, integer, text[], "any"),
  score_purchase_version_columns(text, integer, text[], "any"), purchase_features_version_columns(text, integer, text[], "any"),
  clean_number(text), purchase_models(),
  explain_purchase(record, text, integer, boolean, integer), purchase_model_weights(text, integer),
  purchase.feature_contributions(jsonb, text, integer),
  evaluate_purchase_model(regclass, text, text, integer, text, text),
  purchase_drift(regclass, text, integer, text, text),
  compare_purchase_models(regclass, text, text, text, integer, integer, float8, float8, text, text),
  optimize_purchase_threshold(regclass, text, text, float8, float8) TO purchase_scorer;

-- Targeting economics (src/pg/targeting.rs): the threshold search reads the source with the
-- caller's rights. A new threshold (set_purchase_threshold) and a calibration
-- (src/pg/calibration.rs) are new versions, so they are purchase_admin's like a load: both run
-- with the caller's rights, refuse a caller outside purchase_admin with 42501 and a hint naming
-- the role (src/pg/admin_only.rs; a revoked EXECUTE would name none), and store through
-- load_purchase_model, itself purchase_admin's. EXECUTE is everyone's, written as revoke + grant
-- so a fresh install and an upgraded one hold the same ACL.
ALTER FUNCTION optimize_purchase_threshold(regclass, text, text, float8, float8) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION set_purchase_threshold(text, float8, boolean) SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION set_purchase_threshold(text, float8, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION set_purchase_threshold(text, float8, boolean) TO PUBLIC;
ALTER FUNCTION calibrate_purchase_model(regclass, text, text, text, boolean) SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION calibrate_purchase_model(regclass, text, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION calibrate_purchase_model(regclass, text, text, text, boolean) TO PUBLIC;

-- Training (src/pg/training.rs): reads the source with the caller's rights and stores through
-- load_purchase_model, so it is for the roles that may load models.
ALTER FUNCTION train_purchase_model(regclass, text, text, jsonb) SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION train_purchase_model(regclass, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION train_purchase_model(regclass, text, text, jsonb) TO purchase_admin;
