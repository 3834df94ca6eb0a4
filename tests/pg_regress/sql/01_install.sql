-- pg_purchase: install, load the bundled model, look at the catalog.
-- The test runner exports PG_PURCHASE_ARTIFACT (the bundled artifacts/purchase_model.json).
CREATE EXTENSION pg_purchase;
\getenv artifact_path PG_PURCHASE_ARTIFACT
SELECT load_purchase_model(pg_read_file(:'artifact_path')::jsonb) AS version;
SELECT name, version, active, length(sha256) AS sha_len, loaded_by = current_user AS by_me
  FROM purchase.model_versions;
-- The artifact's own hash is what the catalog records.
SELECT sha256 = artifact->>'sha256' AS hash_matches FROM purchase.model_versions;
