\set ECHO none
-- The thin table (a row type without most model columns), for 05_errors.sql and 07_refresh.sql
-- (included with \ir after setup/common.sql).
CREATE TABLE thin (customer_id int, x5 text);
INSERT INTO thin VALUES (1, 'monday');
\set ECHO all
