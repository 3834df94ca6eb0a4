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
-- (end trees)

-- ---------------------------------------------------------------------------------------------
-- targeting (issue 21: optimize_purchase_threshold, set_purchase_threshold)
CREATE FUNCTION "optimize_purchase_threshold"(
	"source" regclass,
	"target_column" TEXT,
	"model" TEXT DEFAULT 'default',
	"value_per_purchase" double precision DEFAULT NULL,
	"cost_per_contact" double precision DEFAULT NULL
) RETURNS jsonb
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'optimize_purchase_threshold_wrapper';
CREATE FUNCTION "set_purchase_threshold"(
	"model" TEXT,
	"threshold" double precision,
	"activate" bool DEFAULT true
) RETURNS INT
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'set_purchase_threshold_wrapper';
GRANT EXECUTE ON FUNCTION optimize_purchase_threshold(regclass, text, text, float8, float8) TO purchase_scorer;
ALTER FUNCTION optimize_purchase_threshold(regclass, text, text, float8, float8) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION set_purchase_threshold(text, float8, boolean) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION set_purchase_threshold(text, float8, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION set_purchase_threshold(text, float8, boolean) TO purchase_admin;
-- (end targeting)
