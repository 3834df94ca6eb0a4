-- clean_number: the cleaning rule for money, percent and numbers sent as text.
\ir setup/common.sql
SELECT v AS raw, clean_number(v) AS cleaned
  FROM unnest(ARRAY['$6,882.34', '$6,882.34 ', '$-5,032.58', '($5,032.58)', '($5,483.24)',
                    '36.29%', '14.75731742', ' -3.5e-2 ', '', '   ']) AS v;
-- NULL in, NULL out.
SELECT clean_number(NULL) IS NULL AS null_is_null;
-- Anything else is an error quoting the value (never a silent NULL).
SELECT error_of(format('SELECT clean_number(%L)', v))
  FROM unnest(ARRAY['abc', '$', '(5', '1.2.3', 'NaN', 'Infinity', '(-5)', '1e999']) AS v;
