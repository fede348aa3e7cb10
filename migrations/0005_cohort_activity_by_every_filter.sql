-- cohort_activity keyed by every combination of the filter attributes, so
-- that a call with any of country, segment and acquisition_source (none, one,
-- two or all three) reads exactly its own rows, a prefix of the key, instead
-- of scanning every attribute combination: `grain` (0: all three attributes,
-- 1: none) becomes `kept`, a bitmask of the attributes a row keeps (1
-- country, 2 segment, 4 acquisition_source; the others are ''), and the
-- attributes come before the cohort in the key. Recomputed at start
-- (derived_stale, migrations/README.md).

TRUNCATE cohort_activity;
ALTER TABLE cohort_activity RENAME COLUMN grain TO kept;
ALTER TABLE cohort_activity DROP CONSTRAINT cohort_activity_pkey,
    ADD PRIMARY KEY (months, basis, kept, country, segment, acquisition_source, cohort_idx, period_idx);
INSERT INTO derived_stale (table_name)
SELECT 'cohort_activity' WHERE EXISTS (SELECT 1 FROM customer_summary)
ON CONFLICT DO NOTHING;
