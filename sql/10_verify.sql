-- What every derived table must hold, recomputed: `ltv_expected_<table>` has
-- the table's columns, and `ltv-pipes rollups verify` (src/rollups/verify.rs)
-- compares the two row by row. The per-customer rollups are recomputed from
-- the raw datasource tables alone (independently of the ingest SQL that keeps
-- them); each higher level from the stored level below it, through the same
-- row functions the triggers use, so the comparison checks the incremental
-- arithmetic of every level, and the chain checks everything against the raw
-- rows. Views, so they cost nothing until verify reads them.
--
-- Dropped first: a view cannot change its columns in place.

DROP VIEW IF EXISTS ltv_expected_customer_day_category, ltv_expected_interaction_day,
    ltv_expected_customer_category_total, ltv_expected_customer_channel_total,
    ltv_expected_customer_summary, ltv_expected_customer_cube, ltv_expected_customer_period,
    ltv_expected_cohort_activity, ltv_expected_ltv_histogram, ltv_expected_rfm_cube,
    ltv_expected_rfm_monetary, ltv_expected_rfm_days, ltv_expected_rfm_purchases,
    ltv_expected_factor_cube, ltv_expected_factor_histogram, ltv_expected_factor_correlation,
    ltv_transactions_classified;

-- Raw transactions with the purchase/refund rule of docs/METRICS.md ("Events").
CREATE VIEW ltv_transactions_classified AS
SELECT t.*, (t.is_refund = 1 OR coalesce(t.transaction_type, '') = 'refund') AS r
FROM transactions t;

-- Level 1, from the raw rows.

CREATE VIEW ltv_expected_customer_day_category AS
SELECT customer_id, ltv_utc_day(transaction_date) AS day, coalesce(product_category, '') AS category,
       count(*) FILTER (WHERE NOT r) AS purchases, count(*) FILTER (WHERE r) AS refunds,
       coalesce(sum(amount) FILTER (WHERE NOT r), 0) AS gross,
       coalesce(sum(amount) FILTER (WHERE r), 0) AS refunded,
       min(transaction_date) FILTER (WHERE NOT r) AS first_purchase_at,
       max(transaction_date) FILTER (WHERE NOT r) AS last_purchase_at,
       ltv_month_idx(ltv_utc_day(transaction_date)) AS month_idx
FROM ltv_transactions_classified
GROUP BY 1, 2, 3;

CREATE VIEW ltv_expected_interaction_day AS
SELECT customer_id, ltv_utc_day(interaction_date) AS day, coalesce(channel, '') AS channel,
       count(*) AS interactions,
       count(*) FILTER (WHERE interaction_type ILIKE '%support%') AS support_contacts,
       coalesce(sum(satisfaction_score), 0) AS satisfaction_sum, count(satisfaction_score) AS satisfaction_n
FROM customer_interactions
GROUP BY 1, 2, 3;

CREATE VIEW ltv_expected_customer_category_total AS
SELECT customer_id, coalesce(product_category, '') AS category, count(*) AS purchases, sum(amount) AS gross
FROM ltv_transactions_classified
WHERE NOT r
GROUP BY 1, 2;

CREATE VIEW ltv_expected_customer_channel_total AS
SELECT customer_id, coalesce(channel, '') AS channel, count(*) AS interactions
FROM customer_interactions
GROUP BY 1, 2;

-- Every customer with a customers row, a transaction or an interaction.
CREATE VIEW ltv_expected_customer_summary AS
WITH t AS (
    SELECT customer_id, count(*) FILTER (WHERE NOT r) AS purchases, count(*) FILTER (WHERE r) AS refunds,
           coalesce(sum(amount) FILTER (WHERE NOT r), 0) AS gross,
           coalesce(sum(amount) FILTER (WHERE r), 0) AS refunded,
           min(transaction_date) FILTER (WHERE NOT r) AS first_purchase_at,
           max(transaction_date) FILTER (WHERE NOT r) AS last_purchase_at
    FROM ltv_transactions_classified GROUP BY 1
), i AS (
    SELECT customer_id, count(*) AS interactions,
           count(*) FILTER (WHERE interaction_type ILIKE '%support%') AS support_contacts,
           coalesce(sum(satisfaction_score), 0) AS satisfaction_sum, count(satisfaction_score) AS satisfaction_n
    FROM customer_interactions GROUP BY 1
), top AS (
    -- Most gross purchase revenue; ties to the alphabetically first, '' as 'unknown'.
    SELECT DISTINCT ON (customer_id) customer_id, category
    FROM ltv_expected_customer_category_total
    ORDER BY customer_id, gross DESC, CASE WHEN category = '' THEN 'unknown' ELSE category END
), chan AS (
    SELECT DISTINCT ON (customer_id) customer_id, channel
    FROM ltv_expected_customer_channel_total
    ORDER BY customer_id, interactions DESC, CASE WHEN channel = '' THEN 'unknown' ELSE channel END
), ids AS (
    SELECT customer_id FROM customers UNION SELECT customer_id FROM t UNION SELECT customer_id FROM i
)
SELECT ids.customer_id,
       coalesce(t.purchases, 0) AS purchases, coalesce(t.refunds, 0) AS refunds,
       coalesce(t.gross, 0) AS gross, coalesce(t.refunded, 0) AS refunded,
       t.first_purchase_at, t.last_purchase_at,
       coalesce(i.interactions, 0) AS interactions, coalesce(i.support_contacts, 0) AS support_contacts,
       coalesce(i.satisfaction_sum, 0) AS satisfaction_sum, coalesce(i.satisfaction_n, 0) AS satisfaction_n,
       top.category AS top_category, chan.channel AS primary_channel,
       c.registration_date, c.country, c.city, c.age, c.gender, c.acquisition_source, c.segment, c.is_active
FROM ids
LEFT JOIN t USING (customer_id)
LEFT JOIN i USING (customer_id)
LEFT JOIN top USING (customer_id)
LEFT JOIN chan USING (customer_id)
LEFT JOIN customers c USING (customer_id);

-- Higher levels, from the stored level below.

CREATE VIEW ltv_expected_customer_cube AS
SELECT d.cohort_month, d.country, d.segment, d.acquisition_source, sum(d.customers) AS customers,
       sum(d.paying) AS paying, sum(d.active) AS active, sum(d.purchases) AS purchases,
       sum(d.refunds) AS refunds, sum(d.gross) AS gross, sum(d.refunded) AS refunded
FROM customer_summary s, ltv_cube_rows(1, s) d
GROUP BY 1, 2, 3, 4;

CREATE VIEW ltv_expected_customer_period AS
SELECT d.customer_id, m.months, d.month_idx / m.months AS period_idx,
       sum(d.purchases) AS purchases, sum(d.gross) AS gross, sum(d.refunded) AS refunded
FROM customer_day_category d CROSS JOIN (VALUES (1::smallint), (3::smallint), (12::smallint)) m(months)
GROUP BY 1, 2, 3;

-- Every attribute first, then each combination of kept attributes summed
-- from that: one pass over the periods.
CREATE VIEW ltv_expected_cohort_activity AS
WITH every_attribute AS (
    SELECT x.months, x.basis, x.cohort_idx, x.country, x.segment, x.acquisition_source, x.period_idx,
           sum(x.active) AS active, sum(x.purchases) AS purchases, sum(x.gross) AS gross,
           sum(x.refunded) AS refunded, sum(x.first_buyers) AS first_buyers
    FROM (SELECT d.* FROM customer_period p JOIN customer_summary s USING (customer_id),
                          ltv_activity_rows(1, s, p) d
          UNION ALL
          SELECT f.* FROM customer_summary s, ltv_first_buyer_rows(1, s) f) x
    GROUP BY 1, 2, 3, 4, 5, 6, 7
)
SELECT e.months, e.basis, g.kept, e.cohort_idx, g.country, g.segment, g.acquisition_source,
       e.period_idx, sum(e.active) AS active, sum(e.purchases) AS purchases, sum(e.gross) AS gross,
       sum(e.refunded) AS refunded, sum(e.first_buyers) AS first_buyers
FROM every_attribute e, ltv_attribute_keys(e.country, e.segment, e.acquisition_source) g
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

CREATE VIEW ltv_expected_ltv_histogram AS
SELECT g.kept, g.country, g.segment, g.acquisition_source,
       ltv_bucket(s.gross - s.refunded) AS bucket, count(*) AS customers, sum(s.gross - s.refunded) AS ltv
FROM customer_summary s, ltv_cube_rows(1, s) d, ltv_attribute_keys(d.country, d.segment, d.acquisition_source) g
GROUP BY 1, 2, 3, 4, 5;

-- The RFM tables under every combination of kept attributes (sql/07_rfm.sql,
-- ltv_rfm_keys), in the tables' column order (migrations 0003 and 0007
-- appended the keys).
CREATE VIEW ltv_expected_rfm_cube AS
SELECT ltv_utc_day(s.last_purchase_at) AS last_day, s.purchases, count(*) AS customers,
       sum(s.gross - s.refunded) AS monetary, k.kept, k.country, k.segment, k.acquisition_source
FROM customer_summary s, ltv_rfm_keys(s) k WHERE s.purchases > 0
GROUP BY 1, 2, 5, 6, 7, 8;

CREATE VIEW ltv_expected_rfm_monetary AS
SELECT ltv_bucket(s.gross - s.refunded) AS bucket, count(*) AS customers, k.kept, k.country, k.segment,
       k.acquisition_source
FROM customer_summary s, ltv_rfm_keys(s) k WHERE s.purchases > 0
GROUP BY 1, 3, 4, 5, 6;

CREATE VIEW ltv_expected_rfm_days AS
SELECT ltv_utc_day(s.last_purchase_at) AS last_day, count(*) AS customers, k.kept, k.country, k.segment,
       k.acquisition_source
FROM customer_summary s, ltv_rfm_keys(s) k WHERE s.purchases > 0
GROUP BY 1, 3, 4, 5, 6;

CREATE VIEW ltv_expected_rfm_purchases AS
SELECT s.purchases, count(*) AS customers, k.kept, k.country, k.segment, k.acquisition_source
FROM customer_summary s, ltv_rfm_keys(s) k WHERE s.purchases > 0
GROUP BY 1, 3, 4, 5, 6;

CREATE VIEW ltv_expected_factor_cube AS
SELECT f.factor, f.value, count(*) AS customers, sum(s.gross - s.refunded) AS ltv,
       sum(s.purchases) AS purchases, sum(s.gross) AS gross, sum(s.interactions) AS interactions,
       sum(s.satisfaction_sum) AS satisfaction_sum, sum(s.satisfaction_n) AS satisfaction_n
FROM customer_summary s, ltv_factor_values(s) f
GROUP BY 1, 2;

CREATE VIEW ltv_expected_factor_histogram AS
SELECT f.factor, f.value, ltv_bucket(s.gross - s.refunded) AS bucket, count(*) AS customers
FROM customer_summary s, ltv_factor_values(s) f
GROUP BY 1, 2, 3;

CREATE VIEW ltv_expected_factor_correlation AS
SELECT m.metric, count(*) AS n, sum(m.x) AS sx, sum(s.gross - s.refunded) AS sy, sum(m.x * m.x) AS sxx,
       sum((s.gross - s.refunded) * (s.gross - s.refunded)) AS syy, sum(m.x * (s.gross - s.refunded)) AS sxy
FROM customer_summary s, ltv_factor_metrics(s) m
GROUP BY 1;
