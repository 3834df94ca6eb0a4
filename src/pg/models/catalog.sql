-- The model catalog and the two roles (bootstrap: everything else depends on it).
CREATE SCHEMA purchase;
COMMENT ON SCHEMA purchase IS 'pg_purchase catalog: model versions';

CREATE TABLE purchase.model_versions (
    name      text        NOT NULL CHECK (name <> ''),
    version   integer     NOT NULL CHECK (version > 0),
    artifact  jsonb       NOT NULL,
    sha256    text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    loaded_at timestamptz NOT NULL DEFAULT now(),
    loaded_by name        NOT NULL DEFAULT current_user,
    active    boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (name, version)
);
CREATE UNIQUE INDEX model_versions_one_active ON purchase.model_versions (name) WHERE active;
COMMENT ON TABLE purchase.model_versions IS 'Every loaded model version (immutable); at most one active per name';
SELECT pg_catalog.pg_extension_config_dump('purchase.model_versions', '');
GRANT USAGE ON SCHEMA purchase TO PUBLIC;

-- Roles: purchase_admin changes models, purchase_scorer scores. Roles are cluster-wide and
-- outlive the extension; they are created only if missing.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'purchase_admin') THEN
    CREATE ROLE purchase_admin NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'purchase_scorer') THEN
    CREATE ROLE purchase_scorer NOLOGIN;
  END IF;
END $$;

CREATE TYPE purchase_score AS (p_hat float8, business_outcome integer, model text, version integer);
