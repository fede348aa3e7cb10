-- The LTV histogram and the RFM tables keyed by every combination of the
-- filter attributes, as cohort_activity is since 0005 (ltv_attribute_keys,
-- sql/04_customer_cube.sql): `grain` (0: all three attributes, 1: none)
-- becomes `kept`, a bitmask of the attributes a row keeps (1 country, 2
-- segment, 4 acquisition_source; '' for the others), so that the median,
-- top-10% share and RFM cuts of a filtered call read only their own rows.
-- rfm_cube, which held everyone only, gains the same key: the segment
-- summary with attribute filters becomes a sum over its rows. Recomputed at
-- start (derived_stale, migrations/README.md).

TRUNCATE ltv_histogram, rfm_cube, rfm_monetary, rfm_days, rfm_purchases;
ALTER TABLE ltv_histogram RENAME COLUMN grain TO kept;
ALTER TABLE rfm_monetary RENAME COLUMN grain TO kept;
ALTER TABLE rfm_days RENAME COLUMN grain TO kept;
ALTER TABLE rfm_purchases RENAME COLUMN grain TO kept;
ALTER TABLE rfm_cube
    ADD COLUMN kept smallint NOT NULL,
    ADD COLUMN country text NOT NULL,
    ADD COLUMN segment text NOT NULL,
    ADD COLUMN acquisition_source text NOT NULL,
    DROP CONSTRAINT rfm_cube_pkey,
    ADD PRIMARY KEY (kept, country, segment, acquisition_source, last_day, purchases);
INSERT INTO derived_stale (table_name)
SELECT t FROM unnest(ARRAY['ltv_histogram', 'rfm_cube', 'rfm_monetary', 'rfm_days', 'rfm_purchases']) t
WHERE EXISTS (SELECT 1 FROM customer_summary)
ON CONFLICT DO NOTHING;
