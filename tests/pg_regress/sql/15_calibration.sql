-- Calibration (README "Choosing whom to contact"): calibrate_purchase_model fits Platt scaling
-- or isotonic regression on held-out labelled rows and stores a new version; its errors and
-- who may call it. Agreement with scikit-learn is tests/parity/test_calibration.py.
\ir setup/common.sql
\ir setup/many.sql
\set SHOW_CONTEXT never
CREATE TABLE holdout AS SELECT m.*, (customer_id % 3 = 0) AS bought FROM many m;
CREATE TABLE one_class AS SELECT m.*, true AS bought FROM many m;
CREATE TABLE unlabelled AS SELECT m.*, NULL::boolean AS bought FROM many m;

-- Bad arguments: an unknown method, one class, no labelled row, NULL, a missing column.
SELECT calibrate_purchase_model('holdout', 'bought', method => 'platt');
SELECT calibrate_purchase_model('one_class', 'bought');
SELECT calibrate_purchase_model('unlabelled', 'bought');
SELECT calibrate_purchase_model('holdout', 'bought', method => NULL);
SELECT calibrate_purchase_model('holdout', 'no_such_column');
SELECT calibrate_purchase_model('holdout', 'bought', 'no_such_model');
-- Nothing was stored.
SELECT count(*) AS versions FROM purchase_models() WHERE name = 'default';

-- A calibrated version, not activated by default: the active one scores as before.
SELECT predict_purchase(m) AS before FROM many m WHERE customer_id = 1 \gset
SELECT calibrate_purchase_model('holdout', 'bought') AS v \gset
SELECT :v = 2 AS second_version, active FROM purchase_models() WHERE name = 'default' AND version = :'v';
SELECT artifact->'calibration'->>'method' AS method, artifact->'calibration'->>'response' AS response,
       artifact->'calibration'->'rows' AS rows
  FROM purchase.model_versions WHERE name = 'default' AND version = :'v';
SELECT predict_purchase(m) = :before AS unchanged FROM many m WHERE customer_id = 1;
-- Activated, p_hat is calibrated on every path; rolling back restores the old scores.
SELECT activate_purchase_model('default', :'v');
SELECT predict_purchase(m) <> :before AS calibrated,
       (score_purchase(m)).p_hat = predict_purchase(m) AS same_on_score
  FROM many m WHERE customer_id = 1;
SELECT activate_purchase_model('default', 1);
SELECT predict_purchase(m) = :before AS rolled_back FROM many m WHERE customer_id = 1;
SELECT calibrate_purchase_model('holdout', 'bought', method => 'isotonic', activate => true) AS iso;
SELECT active FROM purchase_models() WHERE name = 'default' AND version = 3;

-- Only purchase_admin may calibrate (it stores a version).
DO $$ BEGIN CREATE ROLE calibration_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT SELECT ON holdout TO calibration_reader;
SET ROLE calibration_reader;
SELECT calibrate_purchase_model('holdout', 'bought');
RESET ROLE;
