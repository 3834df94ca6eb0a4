-- pg_purchase 0.2.0 -> 0.3.0. Models in purchase.model_versions are kept as they are.

-- Scoring functions: CALLED ON NULL INPUT, so that a NULL model name is an error (22004), as
-- for the admin functions, instead of a silent NULL. A NULL row still gives NULL.
ALTER FUNCTION predict_purchase(record, text) CALLED ON NULL INPUT;
ALTER FUNCTION purchase_outcome(record, text) CALLED ON NULL INPUT;
ALTER FUNCTION score_purchase(record, text) CALLED ON NULL INPUT;
ALTER FUNCTION purchase_features(record, text) CALLED ON NULL INPUT;

-- predict_purchase_json gains "strict" (default true: each object carries every column the
-- model reads and no key outside the model's inputs). The function is re-created with the new
-- signature, keeping its grants and revokes (a REVOKE ... FROM PUBLIC stays in force) and its
-- comment. A view or SQL-standard function body that calls it blocks the update (2BP01): drop
-- it first and re-create it afterwards.
DO $upgrade$
DECLARE
  old_fn    oid := 'predict_purchase_json(jsonb, text)'::regprocedure;
  new_fn    regprocedure;
  old_acl   aclitem[];
  owner_id  oid;
  note      text;
  item      record;
BEGIN
  SELECT p.proacl, p.proowner INTO old_acl, owner_id FROM pg_catalog.pg_proc p WHERE p.oid = old_fn;
  note := pg_catalog.obj_description(old_fn, 'pg_proc');
  DROP FUNCTION predict_purchase_json(jsonb, text);
  CREATE FUNCTION predict_purchase_json("rows" jsonb, "model" text DEFAULT 'default', "strict" boolean DEFAULT true)
      RETURNS jsonb
      AS 'MODULE_PATHNAME', 'predict_purchase_json_wrapper' LANGUAGE C STABLE PARALLEL SAFE;
  new_fn := 'predict_purchase_json(jsonb, text, boolean)'::regprocedure;
  IF old_acl IS NOT NULL THEN
    -- Replay the old entries in order onto the default (PUBLIC and the owner may execute),
    -- then take away what the default gives and the old list did not.
    FOR item IN SELECT a.grantee, a.privilege_type, a.is_grantable FROM pg_catalog.aclexplode(old_acl) a LOOP
      EXECUTE pg_catalog.format('GRANT %s ON FUNCTION %s TO %s%s', item.privilege_type, new_fn,
        CASE WHEN item.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(item.grantee)) END,
        CASE WHEN item.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    IF NOT EXISTS (SELECT FROM pg_catalog.aclexplode(old_acl) a WHERE a.grantee = 0) THEN
      EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', new_fn);
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.aclexplode(old_acl) a WHERE a.grantee = owner_id) THEN
      EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM %I', new_fn, pg_catalog.pg_get_userbyid(owner_id));
    END IF;
  END IF;
  IF note IS NOT NULL THEN
    EXECUTE pg_catalog.format('COMMENT ON FUNCTION %s IS %L', new_fn, note);
  END IF;
END $upgrade$;
