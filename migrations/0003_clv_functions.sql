-- Functions the CLV pipes share (pipes cannot share nodes across files).

-- Today in UTC: the default as_of.
CREATE FUNCTION ltv_today() RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT (now() AT TIME ZONE 'UTC')::date $$;

-- The RFM window scans raw transactions only on its first and last day.
CREATE INDEX transactions_date ON transactions (transaction_date);

-- Purchases per customer in the window [start_ts, end_ts] (either may be null:
-- unbounded) up to the end of as_of. Whole days inside the window come from the
-- daily rollup; the first and last day from raw transactions, so the bounds are
-- exact to the microsecond.
CREATE FUNCTION ltv_window_totals(as_of date, start_ts timestamptz, end_ts timestamptz)
RETURNS TABLE (customer_id text, purchases bigint, net numeric, last_purchase_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  WITH b AS (
    SELECT coalesce(start_ts, '-infinity') AS s,
           least(coalesce(end_ts, 'infinity'), ltv_day_end(as_of) - interval '1 microsecond') AS e
  ), d AS (
    SELECT s, e,
           CASE WHEN s = '-infinity' THEN '-infinity'::date ELSE ltv_utc_day(s) END AS sd,
           ltv_utc_day(e) AS ed
    FROM b
  ), rows AS (
    SELECT r.customer_id, r.purchases, r.gross - r.refunded AS net, r.last_purchase_at
    FROM customer_day_category r, d
    WHERE r.day > d.sd AND r.day < d.ed
    UNION ALL
    SELECT t.customer_id, t.p::int, CASE WHEN t.p THEN t.amount ELSE -t.amount END,
           CASE WHEN t.p THEN t.transaction_date END
    FROM (SELECT x.*, NOT (x.is_refund = 1 OR coalesce(x.transaction_type, '') = 'refund') AS p
          FROM transactions x, d
          WHERE (x.transaction_date >= d.s AND x.transaction_date < least(ltv_day_end(d.sd), d.e + interval '1 microsecond'))
             OR (x.transaction_date >= greatest(d.ed::timestamp AT TIME ZONE 'UTC', ltv_day_end(d.sd))
                 AND x.transaction_date <= d.e)) t
  )
  SELECT customer_id, sum(purchases)::bigint, sum(net), max(last_purchase_at)
  FROM rows
  GROUP BY customer_id
$$;

-- RFM scores of every customer with a purchase in the window who matches the
-- attribute filters (null: no filter), exactly as METRICS.md defines them.
CREATE FUNCTION ltv_rfm_scores(as_of date, start_ts timestamptz, end_ts timestamptz,
                               f_country text, f_segment text, f_source text)
RETURNS TABLE (customer_id text, country text, segment text, acquisition_source text,
               recency_days integer, frequency bigint, monetary numeric,
               r_score integer, f_score integer, m_score integer, rfm_score text,
               rfm_segment text, last_purchase_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  WITH w AS (
    SELECT t.customer_id, t.purchases, t.gross - t.refunded AS net, t.last_purchase_at
    FROM ltv_transaction_totals(as_of) t
    WHERE start_ts IS NULL AND end_ts IS NULL
    UNION ALL
    SELECT w.customer_id, w.purchases, w.net, w.last_purchase_at
    FROM ltv_window_totals(as_of, start_ts, end_ts) w
    WHERE start_ts IS NOT NULL OR end_ts IS NOT NULL
  ), pop AS (
    SELECT w.customer_id, c.country, c.segment, c.acquisition_source,
           as_of - ltv_utc_day(w.last_purchase_at) AS recency_days,
           w.purchases AS frequency, w.net AS monetary, w.last_purchase_at
    FROM w
    LEFT JOIN customers c ON c.customer_id = w.customer_id AND c.registration_date < ltv_day_end(as_of)
    WHERE w.purchases > 0
      AND (f_country IS NULL OR c.country = f_country)
      AND (f_segment IS NULL OR c.segment = f_segment)
      AND (f_source IS NULL OR c.acquisition_source = f_source)
  ), ranked AS (
    -- rank() - 1 = how many customers have a strictly lower (or, for recency,
    -- strictly larger) value: ties share a score.
    SELECT pop.*,
           1 + (5 * (rank() OVER (ORDER BY recency_days DESC) - 1)) / count(*) OVER () AS r,
           1 + (5 * (rank() OVER (ORDER BY frequency) - 1)) / count(*) OVER () AS f,
           1 + (5 * (rank() OVER (ORDER BY monetary) - 1)) / count(*) OVER () AS m
    FROM pop
  )
  SELECT customer_id, country, segment, acquisition_source, recency_days, frequency, monetary,
         r::int, f::int, m::int, r::text || f::text || m::text,
         CASE
           WHEN r = 5 AND f >= 4 THEN 'Champions'
           WHEN r IN (3, 4) AND f >= 4 THEN 'Loyal Customers'
           WHEN r >= 4 AND f IN (2, 3) THEN 'Potential Loyalist'
           WHEN r = 5 AND f = 1 THEN 'New Customers'
           WHEN r = 4 AND f = 1 THEN 'Promising'
           WHEN r = 3 AND f = 3 THEN 'Need Attention'
           WHEN r = 3 AND f <= 2 THEN 'About To Sleep'
           WHEN r <= 2 AND f = 5 THEN 'Can''t Lose Them'
           WHEN r <= 2 AND f IN (3, 4) THEN 'At Risk'
           ELSE 'Hibernating'
         END,
         last_purchase_at
  FROM ranked
$$;

-- The exact median of a sorted array (mean of the two middle values when the
-- count is even); null for an empty array. percentile_cont would go through float8.
CREATE FUNCTION ltv_median(sorted numeric[]) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT (sorted[(cardinality(sorted) + 1) / 2] + sorted[(cardinality(sorted) + 2) / 2]) / 2
$$;

-- Recomputes customer_summary.top_category / primary_channel for `ids` from the
-- all-time totals (ingestion calls these for the customers of each batch).
CREATE FUNCTION ltv_refresh_top_category(ids text[]) RETURNS void
LANGUAGE sql VOLATILE
AS $$
  UPDATE customer_summary s SET top_category = x.category
  FROM (SELECT DISTINCT ON (customer_id) customer_id, category
        FROM customer_category_total
        WHERE customer_id = ANY (ids) AND purchases > 0
        ORDER BY customer_id, gross DESC, CASE WHEN category = '' THEN 'unknown' ELSE category END) x
  -- Rows whose arg-max did not change are not rewritten.
  WHERE s.customer_id = x.customer_id AND s.top_category IS DISTINCT FROM x.category
$$;

CREATE FUNCTION ltv_refresh_primary_channel(ids text[]) RETURNS void
LANGUAGE sql VOLATILE
AS $$
  UPDATE customer_summary s SET primary_channel = x.channel
  FROM (SELECT DISTINCT ON (customer_id) customer_id, channel
        FROM customer_channel_total
        WHERE customer_id = ANY (ids)
        ORDER BY customer_id, interactions DESC, CASE WHEN channel = '' THEN 'unknown' ELSE channel END) x
  WHERE s.customer_id = x.customer_id AND s.primary_channel IS DISTINCT FROM x.channel
$$;

SELECT ltv_refresh_top_category(array_agg(DISTINCT customer_id)) FROM customer_category_total;
SELECT ltv_refresh_primary_channel(array_agg(DISTINCT customer_id)) FROM customer_channel_total;
