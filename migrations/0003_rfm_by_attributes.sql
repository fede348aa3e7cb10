-- The RFM marginals by the attributes pipes filter on, as ltv_histogram is
-- kept: grain 1 holds every purchaser (attributes ''), grain 0 one row per
-- country, segment and acquisition_source ('' = none; transaction-only
-- customers have all three ''), so the quintile cuts of a filtered population
-- are sums over a few hundred rows (sql/07_rfm.sql). The rows stored so far
-- are the grain-1 rows; the grain-0 rows are computed here from the profiles,
-- exactly as `ltv-pipes rollups refresh` would (sql/10_verify.sql).

ALTER TABLE rfm_days
    ADD COLUMN grain smallint NOT NULL DEFAULT 1,
    ADD COLUMN country text NOT NULL DEFAULT '',
    ADD COLUMN segment text NOT NULL DEFAULT '',
    ADD COLUMN acquisition_source text NOT NULL DEFAULT '';
ALTER TABLE rfm_days DROP CONSTRAINT rfm_days_pkey,
    ADD PRIMARY KEY (grain, country, segment, acquisition_source, last_day),
    ALTER COLUMN grain DROP DEFAULT, ALTER COLUMN country DROP DEFAULT,
    ALTER COLUMN segment DROP DEFAULT, ALTER COLUMN acquisition_source DROP DEFAULT;

ALTER TABLE rfm_purchases
    ADD COLUMN grain smallint NOT NULL DEFAULT 1,
    ADD COLUMN country text NOT NULL DEFAULT '',
    ADD COLUMN segment text NOT NULL DEFAULT '',
    ADD COLUMN acquisition_source text NOT NULL DEFAULT '';
ALTER TABLE rfm_purchases DROP CONSTRAINT rfm_purchases_pkey,
    ADD PRIMARY KEY (grain, country, segment, acquisition_source, purchases),
    ALTER COLUMN grain DROP DEFAULT, ALTER COLUMN country DROP DEFAULT,
    ALTER COLUMN segment DROP DEFAULT, ALTER COLUMN acquisition_source DROP DEFAULT;

ALTER TABLE rfm_monetary
    ADD COLUMN grain smallint NOT NULL DEFAULT 1,
    ADD COLUMN country text NOT NULL DEFAULT '',
    ADD COLUMN segment text NOT NULL DEFAULT '',
    ADD COLUMN acquisition_source text NOT NULL DEFAULT '';
ALTER TABLE rfm_monetary DROP CONSTRAINT rfm_monetary_pkey,
    ADD PRIMARY KEY (grain, country, segment, acquisition_source, bucket),
    ALTER COLUMN grain DROP DEFAULT, ALTER COLUMN country DROP DEFAULT,
    ALTER COLUMN segment DROP DEFAULT, ALTER COLUMN acquisition_source DROP DEFAULT;

CREATE TEMPORARY TABLE rfm_attributes AS
SELECT (s.last_purchase_at AT TIME ZONE 'UTC')::date AS last_day, s.purchases,
       ltv_bucket(s.gross - s.refunded) AS bucket,
       CASE WHEN s.registration_date IS NULL THEN '' ELSE coalesce(s.country, '') END AS country,
       CASE WHEN s.registration_date IS NULL THEN '' ELSE coalesce(s.segment, '') END AS segment,
       CASE WHEN s.registration_date IS NULL THEN '' ELSE coalesce(s.acquisition_source, '') END AS acquisition_source
FROM customer_summary s WHERE s.purchases > 0;

INSERT INTO rfm_days (last_day, customers, grain, country, segment, acquisition_source)
SELECT last_day, count(*), 0, country, segment, acquisition_source FROM rfm_attributes GROUP BY 1, 4, 5, 6;
INSERT INTO rfm_purchases (purchases, customers, grain, country, segment, acquisition_source)
SELECT purchases, count(*), 0, country, segment, acquisition_source FROM rfm_attributes GROUP BY 1, 4, 5, 6;
INSERT INTO rfm_monetary (bucket, customers, grain, country, segment, acquisition_source)
SELECT bucket, count(*), 0, country, segment, acquisition_source FROM rfm_attributes GROUP BY 1, 4, 5, 6;

DROP TABLE rfm_attributes;
