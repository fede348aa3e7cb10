-- RFM. docs/METRICS.md scores a value by how many scored customers have a
-- strictly lower one:
--
--   score = 1 + floor(5 * L / n),  L = #{customers with a lower value}
--
-- which equals 1 + #{j in 1..4 : s_(t_j) < value}, where s_(t) is the t-th
-- smallest value and t_j = ceil(j * n / 5). So four order statistics per
-- dimension ("cuts") score everybody, and for the default window those come
-- from small tables kept per batch from the profiles (sql/11_ingest.sql):
--
--   rfm_cube      purchasers by (UTC day of the last purchase, purchases):
--                 the segment summary (a segment depends on r and f only);
--   rfm_days, rfm_purchases  its marginals: the recency and frequency cuts;
--   rfm_monetary  purchasers by ltv_bucket(net): finds the bucket that holds a
--                 wanted monetary rank; one index range scan of that bucket
--                 finds the value (as ltv_kth_smallest does for LTV).
--
-- Recency ranks by "strictly larger recency_days", i.e. a strictly earlier
-- last purchase day, so the day cuts work on last_day ascending. The tables
-- answer the default window when the profile does (ltv_summary_answers: no
-- transaction after as_of); other windows and filters rank (ltv_rfm_scores).

-- Maintained by sql/11_ingest.sql since the triggers were removed (no
-- trigger writes to another table): drop them from databases that had them.
DROP TRIGGER IF EXISTS customer_summary_rfm_insert ON customer_summary;
DROP TRIGGER IF EXISTS customer_summary_rfm_update ON customer_summary;
DROP FUNCTION IF EXISTS ltv_rfm_apply();
-- Signatures before the marginals were kept by attribute (migration 0003).
DROP FUNCTION IF EXISTS ltv_rfm_monetary_at(bigint[]), ltv_rfm_cuts(), ltv_rfm_current(date);
-- Before the RFM tables were kept under every combination of attributes (migration 0007).
DROP FUNCTION IF EXISTS ltv_rfm_segments_current(date, bigint);
DROP FUNCTION IF EXISTS ltv_rfm_key_matches(smallint, text, text, text, text, text, text);
-- Its result column grain became kept; the verify views that read it are
-- dropped with it and made again by sql/10_verify.sql.
DROP FUNCTION IF EXISTS ltv_rfm_keys(customer_summary) CASCADE;

-- The RFM tables' keys of a purchaser's profile: every combination of kept
-- attributes (ltv_attribute_keys) of the attributes the cubes file it under
-- (ltv_cube_attribute), as ltv_histogram keeps them.
CREATE OR REPLACE FUNCTION ltv_rfm_keys(s customer_summary)
RETURNS TABLE (kept smallint, country text, segment text, acquisition_source text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT k.kept, k.country, k.segment, k.acquisition_source
  FROM ltv_attribute_keys(ltv_cube_attribute(s.registration_date, s.country),
                          ltv_cube_attribute(s.registration_date, s.segment),
                          ltv_cube_attribute(s.registration_date, s.acquisition_source)) k
$$;

-- True when a profile passes the attribute filters (null: no filter).
-- Inlined into the calling query, so an attribute filter stays a plain
-- comparison on the column.
CREATE OR REPLACE FUNCTION ltv_profile_matches(s customer_summary, f_country text, f_segment text,
                                               f_source text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT (f_country IS NULL OR s.country = f_country)
     AND (f_segment IS NULL OR s.segment = f_segment)
     AND (f_source IS NULL OR s.acquisition_source = f_source)
$$;

-- True when the RFM tables answer the default window with these attribute
-- filters: the profile answers as_of and, with a filter, nobody registered
-- after it either (the marginals key customers by their stored attributes).
CREATE OR REPLACE FUNCTION ltv_rfm_tables_answer(as_of date, f_country text, f_segment text, f_source text)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT ltv_summary_answers(as_of)
     AND ((f_country IS NULL AND f_segment IS NULL AND f_source IS NULL) OR ltv_cube_answers(as_of))
$$;

-- True when a transaction_date window [start_ts, end_ts] (null: open)
-- contains every stored transaction: scoring it is scoring all time. A
-- dashboard's "all time" dates (start_date=2020-01-01) are such a window.
-- Two probes of the transactions_date index.
CREATE OR REPLACE FUNCTION ltv_window_covers_all(start_ts timestamptz, end_ts timestamptz) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT (start_ts IS NULL OR start_ts <= coalesce((SELECT min(transaction_date) FROM transactions), 'infinity'))
     AND (end_ts IS NULL OR end_ts >= coalesce((SELECT max(transaction_date) FROM transactions), '-infinity'))
$$;

-- Purchases per customer in the window [start_ts, end_ts] (either may be null:
-- unbounded) up to the end of as_of. Whole days inside the window come from the
-- daily rollup; the first and last day from raw transactions, so the bounds are
-- exact to the microsecond.
CREATE OR REPLACE FUNCTION ltv_window_totals(as_of date, start_ts timestamptz, end_ts timestamptz)
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

-- The R/F segment map of docs/METRICS.md, in one place for every path: row r,
-- column f of a 5 x 5 table (each argument used once, so the planner inlines
-- it into the calling query instead of calling a function per customer).
CREATE OR REPLACE FUNCTION ltv_rfm_segment(r integer, f integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT (ARRAY[
    -- f = 1            2                     3                     4                  5
    'Hibernating',    'Hibernating',        'At Risk',            'At Risk',         'Can''t Lose Them',  -- r = 1
    'Hibernating',    'Hibernating',        'At Risk',            'At Risk',         'Can''t Lose Them',  -- r = 2
    'About To Sleep', 'About To Sleep',     'Need Attention',     'Loyal Customers', 'Loyal Customers',   -- r = 3
    'Promising',      'Potential Loyalist', 'Potential Loyalist', 'Loyal Customers', 'Loyal Customers',   -- r = 4
    'New Customers',  'Potential Loyalist', 'Potential Loyalist', 'Champions',       'Champions'          -- r = 5
  ])[(r - 1) * 5 + f]
$$;

-- The monetary values at the given ranks (1-based, ascending, each at most
-- the number of purchasers). One pass over rfm_monetary finds each rank's
-- bucket; one index range scan of that bucket finds the value, among the
-- profiles that pass the attribute filters. A bucket above 0 holds
-- purchasers only (a positive net needs a purchase), so only the others need
-- the purchases test.
CREATE OR REPLACE FUNCTION ltv_rfm_monetary_at(ranks bigint[], f_country text, f_segment text, f_source text)
RETURNS numeric[]
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    found numeric[] := '{}';
    r record;
    v numeric;
BEGIN
    FOR r IN
        WITH h AS MATERIALIZED (
            SELECT m.bucket, m.customers, sum(m.customers) OVER (ORDER BY m.bucket) AS cum
            FROM (SELECT m.bucket, sum(m.customers) AS customers
                  FROM rfm_monetary m
                  WHERE ltv_key_matches(m.kept, m.country, m.segment, m.acquisition_source,
                                        f_country, f_segment, f_source)
                  GROUP BY m.bucket) m
        )
        SELECT t.k, b.bucket, b.before
        FROM unnest(ranks) WITH ORDINALITY t(k, i)
        CROSS JOIN LATERAL (SELECT h.bucket, h.cum - h.customers AS before
                            FROM h WHERE h.cum >= t.k ORDER BY h.bucket LIMIT 1) b
        ORDER BY t.i
    LOOP
        IF r.bucket = 0 THEN
            v := 0;  -- bucket 0 holds exactly the zeros
        ELSE
            SELECT s.gross - s.refunded INTO v
            FROM customer_summary s
            WHERE ltv_bucket(s.gross - s.refunded) = r.bucket AND (r.bucket > 0 OR s.purchases > 0)
              AND ltv_profile_matches(s, f_country, f_segment, f_source)
            ORDER BY s.gross - s.refunded
            OFFSET r.k - r.before - 1 LIMIT 1;
        END IF;
        found := found || v;
    END LOOP;
    RETURN found;
END
$$;

-- The cuts of the default window for the attribute filters (null: none),
-- from the marginals (rfm_cube has one row per last purchase day x purchases,
-- 42,194 rows at 1M customers; the marginals ~1,100 and ~340 per attribute
-- combination).
CREATE OR REPLACE FUNCTION ltv_rfm_cuts(f_country text, f_segment text, f_source text,
                                        OUT n bigint, OUT day_cut date[], OUT frequency_cut bigint[],
                                        OUT monetary_neg_cut numeric[])
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    SELECT coalesce(sum(c.customers), 0) INTO n FROM rfm_purchases c
    WHERE ltv_key_matches(c.kept, c.country, c.segment, c.acquisition_source, f_country, f_segment, f_source);
    IF n = 0 THEN
        RETURN;
    END IF;
    WITH d AS MATERIALIZED (
        SELECT c.last_day AS v, sum(c.customers) OVER (ORDER BY c.last_day) AS cum FROM rfm_days c
        WHERE ltv_key_matches(c.kept, c.country, c.segment, c.acquisition_source, f_country, f_segment, f_source)
    ), f AS MATERIALIZED (
        SELECT c.purchases AS v, sum(c.customers) OVER (ORDER BY c.purchases) AS cum FROM rfm_purchases c
        WHERE ltv_key_matches(c.kept, c.country, c.segment, c.acquisition_source, f_country, f_segment, f_source)
    )
    SELECT array_agg((SELECT min(d.v) FROM d WHERE d.cum >= (j * n + 4) / 5) ORDER BY j),
           array_agg((SELECT min(f.v) FROM f WHERE f.cum >= (j * n + 4) / 5) ORDER BY j)
    INTO day_cut, frequency_cut
    FROM generate_series(1, 4) j;
    SELECT array_agg(-v ORDER BY v DESC) INTO monetary_neg_cut
    FROM unnest(ltv_rfm_monetary_at(ARRAY[(n + 4) / 5, (2 * n + 4) / 5, (3 * n + 4) / 5, (4 * n + 4) / 5],
                                    f_country, f_segment, f_source)) v;
END
$$;

-- Scores against the cuts: 1 + how many cuts lie strictly below the value.
-- width_bucket(x, sorted) counts the thresholds <= x in one binary search;
-- on whole numbers (days, purchases) "< v" is "<= v - 1", and for money
-- "#{c < v}" is 4 - #{-c <= -v}.
CREATE OR REPLACE FUNCTION ltv_rfm_r(last_day date, day_cut date[]) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 1 + width_bucket(last_day - 1, day_cut) $$;

CREATE OR REPLACE FUNCTION ltv_rfm_f(purchases bigint, frequency_cut bigint[]) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 1 + width_bucket(purchases - 1, frequency_cut) $$;

CREATE OR REPLACE FUNCTION ltv_rfm_m(monetary numeric, monetary_neg_cut numeric[]) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 5 - width_bucket(-monetary, monetary_neg_cut) $$;

-- ltv_rfm_scores for the default window (or one containing every
-- transaction) and the attribute filters (null: none), when the RFM tables
-- answer (ltv_rfm_tables_answer; nothing otherwise): one pass over the
-- matching purchasers' profiles, scored against the cuts. A plain scan of
-- customer_summary, so a page by monetary comes off the customer_summary_ltv
-- index.
CREATE OR REPLACE FUNCTION ltv_rfm_current(as_of date, f_country text, f_segment text, f_source text)
RETURNS TABLE (customer_id text, country text, segment text, acquisition_source text,
               recency_days integer, frequency bigint, monetary numeric,
               r_score integer, f_score integer, m_score integer, rfm_score text,
               rfm_segment text, last_purchase_at timestamptz)
LANGUAGE sql STABLE
AS $$
  SELECT s.customer_id,
         CASE WHEN s.registration_date < ltv_day_end(as_of) THEN s.country END,
         CASE WHEN s.registration_date < ltv_day_end(as_of) THEN s.segment END,
         CASE WHEN s.registration_date < ltv_day_end(as_of) THEN s.acquisition_source END,
         as_of - ltv_utc_day(s.last_purchase_at), s.purchases, s.gross - s.refunded,
         x.r, x.f, x.m, x.r::text || x.f::text || x.m::text, ltv_rfm_segment(x.r, x.f),
         s.last_purchase_at
  FROM ltv_rfm_cuts(f_country, f_segment, f_source) k
  CROSS JOIN customer_summary s
  CROSS JOIN LATERAL (SELECT ltv_rfm_r(ltv_utc_day(s.last_purchase_at), k.day_cut) AS r,
                             ltv_rfm_f(s.purchases, k.frequency_cut) AS f,
                             ltv_rfm_m(s.gross - s.refunded, k.monetary_neg_cut) AS m) x
  WHERE ltv_rfm_tables_answer(as_of, f_country, f_segment, f_source) AND s.purchases > 0
    AND ltv_profile_matches(s, f_country, f_segment, f_source)
$$;

-- Per segment, for the default window when the RFM tables answer as_of and
-- the attribute filters (ltv_rfm_tables_answer; nothing otherwise): customers
-- and the sums of recency_days, frequency and monetary, from the rfm_cube
-- rows of the filters' key scored against their cuts (a segment depends on
-- r and f only). min_frequency (null: none) drops customers after scoring,
-- as the pipe's output filter does.
CREATE OR REPLACE FUNCTION ltv_rfm_segments_current(as_of date, min_frequency bigint, f_country text,
                                                    f_segment text, f_source text)
RETURNS TABLE (rfm_segment text, customers bigint, recency_sum numeric, frequency_sum numeric,
               monetary_sum numeric)
LANGUAGE sql STABLE
AS $$
  SELECT ltv_rfm_segment(g.r, g.f), sum(g.customers)::bigint, sum(g.recency_sum),
         sum(g.frequency_sum), sum(g.monetary_sum)
  FROM (SELECT ltv_rfm_r(c.last_day, k.day_cut) AS r, ltv_rfm_f(c.purchases, k.frequency_cut) AS f,
               sum(c.customers) AS customers, sum(c.customers * (as_of - c.last_day)) AS recency_sum,
               sum(c.customers * c.purchases) AS frequency_sum, sum(c.monetary) AS monetary_sum
        FROM ltv_rfm_cuts(f_country, f_segment, f_source) k CROSS JOIN rfm_cube c
        WHERE ltv_rfm_tables_answer(as_of, f_country, f_segment, f_source) AND c.customers <> 0
          AND ltv_key_matches(c.kept, c.country, c.segment, c.acquisition_source, f_country, f_segment, f_source)
          AND (min_frequency IS NULL OR c.purchases >= min_frequency)
        GROUP BY 1, 2) g
  GROUP BY 1
$$;

-- RFM scores of every customer with a purchase in the window who matches the
-- attribute filters (null: no filter), ranking the population (docs/METRICS.md
-- "RFM segmentation"); the segment map from ltv_rfm_segment.
CREATE OR REPLACE FUNCTION ltv_rfm_scores(as_of date, start_ts timestamptz, end_ts timestamptz,
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
           (1 + (5 * (rank() OVER (ORDER BY recency_days DESC) - 1)) / count(*) OVER ())::int AS r,
           (1 + (5 * (rank() OVER (ORDER BY frequency) - 1)) / count(*) OVER ())::int AS f,
           (1 + (5 * (rank() OVER (ORDER BY monetary) - 1)) / count(*) OVER ())::int AS m
    FROM pop
  )
  SELECT customer_id, country, segment, acquisition_source, recency_days, frequency, monetary,
         r, f, m, r::text || f::text || m::text, ltv_rfm_segment(r, f), last_purchase_at
  FROM ranked
$$;

-- A batch's profiles before and after -> rfm_cube, rfm_monetary and the two
-- marginals rfm_days and rfm_purchases, under every key (the attributes of
-- ltv_rfm_keys). Purchasers only. Each table's delta is summed by its own key
-- with every attribute first, then under each combination of kept
-- attributes: the eightfold rows come from the sums, not from every profile.
CREATE OR REPLACE FUNCTION ltv_rfm_apply(old customer_summary[], new customer_summary[]) RETURNS void
LANGUAGE sql
AS $$
  WITH src AS MATERIALIZED (
    SELECT x.sign, ltv_utc_day(x.last_purchase_at) AS last_day, x.purchases, x.gross - x.refunded AS net,
           ltv_bucket(x.gross - x.refunded) AS bucket,
           ltv_cube_attribute(x.registration_date, x.country) AS country,
           ltv_cube_attribute(x.registration_date, x.segment) AS segment,
           ltv_cube_attribute(x.registration_date, x.acquisition_source) AS acquisition_source
    FROM (SELECT 1 AS sign, n.* FROM unnest(new) n WHERE n.purchases > 0
          UNION ALL
          SELECT -1, o.* FROM unnest(old) o WHERE o.purchases > 0) x
  ), cube AS (
    INSERT INTO rfm_cube AS c (last_day, purchases, customers, monetary, kept, country, segment, acquisition_source)
    SELECT f.last_day, f.purchases, sum(f.customers), sum(f.monetary), k.kept, k.country, k.segment, k.acquisition_source
    FROM (SELECT last_day, purchases, country, segment, acquisition_source,
                 sum(sign) AS customers, sum(sign * net) AS monetary
          FROM src GROUP BY 1, 2, 3, 4, 5 HAVING sum(sign) <> 0 OR sum(sign * net) <> 0 OFFSET 0) f,
         ltv_attribute_keys(f.country, f.segment, f.acquisition_source) k
    GROUP BY 1, 2, 5, 6, 7, 8 HAVING sum(f.customers) <> 0 OR sum(f.monetary) <> 0
    ON CONFLICT (kept, country, segment, acquisition_source, last_day, purchases) DO UPDATE SET
        customers = c.customers + EXCLUDED.customers, monetary = c.monetary + EXCLUDED.monetary
  ), days AS (
    INSERT INTO rfm_days AS d (last_day, customers, kept, country, segment, acquisition_source)
    SELECT f.last_day, sum(f.customers), k.kept, k.country, k.segment, k.acquisition_source
    FROM (SELECT last_day, country, segment, acquisition_source, sum(sign) AS customers
          FROM src GROUP BY 1, 2, 3, 4 HAVING sum(sign) <> 0 OFFSET 0) f,
         ltv_attribute_keys(f.country, f.segment, f.acquisition_source) k
    GROUP BY 1, 3, 4, 5, 6 HAVING sum(f.customers) <> 0
    ON CONFLICT (kept, country, segment, acquisition_source, last_day)
    DO UPDATE SET customers = d.customers + EXCLUDED.customers
  ), purchases AS (
    INSERT INTO rfm_purchases AS p (purchases, customers, kept, country, segment, acquisition_source)
    SELECT f.purchases, sum(f.customers), k.kept, k.country, k.segment, k.acquisition_source
    FROM (SELECT purchases, country, segment, acquisition_source, sum(sign) AS customers
          FROM src GROUP BY 1, 2, 3, 4 HAVING sum(sign) <> 0 OFFSET 0) f,
         ltv_attribute_keys(f.country, f.segment, f.acquisition_source) k
    GROUP BY 1, 3, 4, 5, 6 HAVING sum(f.customers) <> 0
    ON CONFLICT (kept, country, segment, acquisition_source, purchases)
    DO UPDATE SET customers = p.customers + EXCLUDED.customers
  )
  INSERT INTO rfm_monetary AS m (bucket, customers, kept, country, segment, acquisition_source)
  SELECT f.bucket, sum(f.customers), k.kept, k.country, k.segment, k.acquisition_source
  FROM (SELECT bucket, country, segment, acquisition_source, sum(sign) AS customers
        FROM src GROUP BY 1, 2, 3, 4 HAVING sum(sign) <> 0 OFFSET 0) f,
       ltv_attribute_keys(f.country, f.segment, f.acquisition_source) k
  GROUP BY 1, 3, 4, 5, 6 HAVING sum(f.customers) <> 0
  ON CONFLICT (kept, country, segment, acquisition_source, bucket)
  DO UPDATE SET customers = m.customers + EXCLUDED.customers
$$;
