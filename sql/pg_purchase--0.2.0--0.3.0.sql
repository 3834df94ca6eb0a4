-- pg_purchase 0.2.0 -> 0.3.0. Models in purchase.model_versions are kept as they are.

-- Bring your own model (issue 11): loads take allow_unchecked (a load without reference checks
-- is refused otherwise); purchase_models() shows each version's format and number of checks.
DROP FUNCTION load_purchase_model(jsonb, text, boolean);
CREATE FUNCTION "load_purchase_model"(
	"artifact" jsonb,
	"name" TEXT DEFAULT 'default',
	"activate" bool DEFAULT true,
	"allow_unchecked" bool DEFAULT false
) RETURNS INT
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'load_purchase_model_checked_wrapper';
DROP FUNCTION load_purchase_model_file(text, text, boolean);
CREATE FUNCTION "load_purchase_model_file"(
	"path" TEXT,
	"name" TEXT DEFAULT 'default',
	"activate" bool DEFAULT true,
	"allow_unchecked" bool DEFAULT false
) RETURNS INT
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'load_purchase_model_file_checked_wrapper';
ALTER FUNCTION load_purchase_model(jsonb, text, boolean, boolean) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION load_purchase_model_file(text, text, boolean, boolean) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION load_purchase_model(jsonb, text, boolean, boolean),
  load_purchase_model_file(text, text, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION load_purchase_model(jsonb, text, boolean, boolean),
  load_purchase_model_file(text, text, boolean, boolean) TO purchase_admin;

DROP FUNCTION purchase_models();
CREATE FUNCTION purchase_models()
RETURNS TABLE (name text, version integer, active boolean, sha256 text, loaded_at timestamptz,
               loaded_by name, features integer, threshold float8, columns text[],
               format integer, checks integer)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT m.name, m.version, m.active, m.sha256, m.loaded_at, m.loaded_by,
         jsonb_array_length(m.artifact->'model'->'features'),
         (m.artifact->>'threshold')::float8,
         ARRAY(SELECT i->>'column' FROM jsonb_array_elements(m.artifact->'inputs') i),
         (m.artifact->>'format_version')::integer,
         coalesce(jsonb_array_length(m.artifact->'checks'), 0)  -- 0: loaded with allow_unchecked
    FROM purchase.model_versions m
   ORDER BY m.name, m.version
$$;
COMMENT ON FUNCTION purchase_models() IS 'Every loaded model version with its metadata; active marks the version in force';
GRANT EXECUTE ON FUNCTION purchase_models() TO purchase_scorer;
