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
