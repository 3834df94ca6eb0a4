-- Bad input gets a clear error: SQLSTATE, the column/field/value, and a hint.
-- A row type without a column the model reads.
\ir setup/common.sql
\ir setup/customers.sql
\ir setup/thin.sql
SELECT error_of('SELECT predict_purchase(t) FROM thin t');
SELECT error_of('SELECT predict_purchase(ROW(1, ''monday'')) ');
-- Unparseable money / percent / number text names the column and quotes the value.
SELECT error_of($$SELECT predict_purchase(ROW(1, 'monday', '12 dollars', 'japan', 0.5, 0.5, 0, 0, 0, '1%', 'July', 'Male', 0.2, 0)::customers)$$);
CREATE TABLE all_text (x5 text, x12 text, x31 text, x44 text, x53 text, x56 text, x58 text, x62 text, x81 text, x91 text);
INSERT INTO all_text VALUES ('monday', '$1', 'japan', '0.5', '0.5', '0', '0', 'n/a', 'July', '0.2');
SELECT error_of('SELECT predict_purchase(t) FROM all_text t');
SELECT error_of($$SELECT predict_purchase_json('[{"x91": "0,2,x"}]', strict => false)$$);
-- A non-object element, a non-array document. (A category sent as a JSON number is compared by
-- its text form: 08_exactness.)
SELECT error_of($$SELECT predict_purchase_json('[{"x5": "monday"}, 42]', strict => false)$$);
SELECT error_of($$SELECT predict_purchase_json('"hello"')$$);
SELECT error_of($$SELECT predict_purchase_json('[{"x12": true}]', strict => false)$$);
SELECT error_of($$SELECT predict_purchase_json('[{"x5": {"day": "monday"}}]', strict => false)$$);
SELECT error_of($$SELECT predict_purchase_json('[[1, 2]]')$$);
-- Numbers beyond double precision, and numeric infinity, are errors too (a NaN is missing:
-- 12_one_rule).
SELECT error_of($$SELECT predict_purchase_json('[{"x12": 1e400}]', strict => false)$$);
SELECT error_of($$SELECT predict_purchase(ROW('monday', 'Infinity', 'japan', 0.5, NULL, 1, 0, '1', 'July', 0)::typed)$$);
-- An unknown model lists the loaded ones.
SELECT error_of($$SELECT predict_purchase(c, 'spring') FROM customers c$$);
SELECT error_of($$SELECT predict_purchase_json('[]', 'spring')$$);

-- A bad artifact is refused with the field named; the model in force stays in force.
\getenv artifact_path PG_PURCHASE_ARTIFACT
CREATE TABLE bundled AS SELECT pg_read_file(:'artifact_path')::jsonb - 'sha256' AS doc;
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb)', doc || '{"threshold": 1.5}')) FROM bundled;
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb)', doc || '{"format": "onnx"}')) FROM bundled;
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb)', jsonb_set(doc, '{model,coefficients,3}', '"x"'))) FROM bundled;
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb)', jsonb_set(doc, '{model,features,0}', '"x5_caturday"'))) FROM bundled;
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb)', jsonb_set(doc, '{inputs,0,kind}', '"decimal"'))) FROM bundled;
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb)', jsonb_set(doc, '{scaler,scale,0}', '0'))) FROM bundled;
-- An edited coefficient: refused by the artifact's hash, and without the hash by its reference rows.
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb)',
       jsonb_set(pg_read_file(:'artifact_path')::jsonb, '{model,coefficients,8}', '0.9'))) ;
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb)', jsonb_set(doc, '{model,coefficients,8}', '0.9'))) FROM bundled;
SELECT error_of($$SELECT load_purchase_model('[1, 2]')$$);
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb, %L)', doc, '')) FROM bundled;
-- Nothing was written by the refused loads.
SELECT name, version, active FROM purchase.model_versions ORDER BY 1, 2;
-- NULL arguments to the admin functions are errors, not silent NULLs.
SELECT error_of($$SELECT load_purchase_model(NULL)$$);
-- (A NULL name is no name given: the artifact's own name, else 'default'; 16_firstweek.)
SELECT error_of($$SELECT load_purchase_model('{}', 'default', NULL)$$);
SELECT error_of($$SELECT activate_purchase_model('default', NULL)$$);
SELECT error_of($$SELECT drop_purchase_model(NULL)$$);
-- Bring your own model: checks are required; a number jsonb accepts but a double cannot hold,
-- and nesting deeper than the parser's limit, are 22023 errors naming the field.
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb)', doc - 'checks')) FROM bundled;
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb)', jsonb_set(doc, '{model,coefficients,3}', '1e999'))) FROM bundled;
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb)', jsonb_set(doc, '{training}', (repeat('[', 200) || repeat(']', 200))::jsonb))) FROM bundled;
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb)', doc || '{"format_version": 2}')) FROM bundled;
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb)', jsonb_set(doc, '{encoder,columns,0,handle_unknown}', '"error"'))) FROM bundled;
-- Format 1 at load: a wrong class or a misspelt key is an error, never ignored.
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb)', jsonb_set(doc, '{model,class}', '"sklearn.svm.SVC"'))) FROM bundled;
SELECT error_of(format('SELECT load_purchase_model(%L::jsonb)', jsonb_set(doc, '{imputer,stratgey}', '"median"'))) FROM bundled;
