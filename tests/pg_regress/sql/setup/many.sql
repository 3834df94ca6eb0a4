\set ECHO none
-- The 10,000 synthetic rows (table many), for the files that use them
-- (included with \ir after setup/common.sql, which removed any earlier copy).
SET client_min_messages = warning;
CREATE TABLE many AS
SELECT g AS customer_id,
       (ARRAY['monday','tuesday','wednesday','thursday','friday','saturday','sunday', NULL])[1 + g % 8] AS x5,
       CASE WHEN g % 3 = 0 THEN '$' || to_char(g * 1.37, 'FM999,990.00')
            WHEN g % 3 = 1 THEN '($' || to_char(g * 0.91, 'FM999,990.00') || ')'
            ELSE '$-' || to_char(g * 0.5, 'FM999,990.00') END AS x12,
       (ARRAY['germany','asia','america','japan', NULL, 'atlantis'])[1 + g % 6] AS x31,
       (g % 97) / 97.0 AS x44, CASE WHEN g % 13 = 0 THEN NULL ELSE (g % 89) / 89.0 END AS x53,
       sin(g) AS x56, cos(g) AS x58, sin(g * 0.7)::text AS x62,
       (ARRAY['January','February','March','April','May','June','July','August','September',
              'October','November','December'])[1 + g % 12] AS x81,
       (g % 101) / 101.0 AS x91
  FROM generate_series(1, 10000) g;
RESET client_min_messages;
\set ECHO all
