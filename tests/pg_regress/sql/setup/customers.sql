\set ECHO none
-- The customers and typed tables, for the files that use them (included with
-- \ir after setup/common.sql, which removed any earlier copy).
SET client_min_messages = warning;
CREATE TABLE customers (customer_id int PRIMARY KEY, x5 text, x12 text, x31 text, x44 float8,
  x53 float8, x56 float8, x58 float8, x62 float8, x63 text, x81 text, x82 text, x91 float8, x99 float8);
INSERT INTO customers VALUES
  (1, 'saturday', '($1,000.00)', 'japan', 0.25, NULL, -1, 0, 1, '36.29%', 'July', 'Male', 0.5, 1),
  (2, 'friday', '$6,882.34 ', 'america', 0.9, 0.1, 0.3, 1.2, -0.4, '50%', 'April', 'Female', 0.1, 2),
  (3, 'monday', '$-5,032.58', 'germany', 0.4, 0.6, 0.0, -0.3, 0.2, '10.5%', 'December', 'Male', 0.9, 3),
  (4, 'sunday', '$0.00', NULL, 0.5, 0.4, 0.0, 0.0, 0.0, NULL, 'October', NULL, 0.25, 4),
  (5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 5);
CREATE TABLE typed (x5 varchar(12), x12 numeric, x31 char(10), x44 float4, x53 numeric(10,4),
  x56 integer, x58 bigint, x62 text, x81 text, x91 smallint);
INSERT INTO typed VALUES ('saturday', -1000, 'japan', 0.25, NULL, -1, 0, '1', 'July', 0);
RESET client_min_messages;
\set ECHO all
