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
-- bucket; one index range scan of that bucket finds the value. A bucket
-- above 0 holds purchasers only (a positive net needs a purchase), so only
-- the others need the purchases test.
CREATE OR REPLACE FUNCTION ltv_rfm_monetary_at(ranks bigint[]) RETURNS numeric[]
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
            FROM rfm_monetary m
        )
        SELECT t.k, b.bucket, b.before
        FROM unnest(ranks) WITH ORDINALITY t(k, i)
        CROSS JOIN LATERAL (SELECT h.bucket, h.cum - h.customers AS before
                            FROM h WHERE h.cum >= t.k ORDER BY h.bucket LIMIT 1) b
        ORDER BY t.i
    LOOP
        IF r.bucket = 0 THEN
            v := 0;  -- bucket 0 holds exactly the zeros
        ELSIF r.bucket > 0 THEN
            SELECT s.gross - s.refunded INTO v
            FROM customer_summary s
            WHERE ltv_bucket(s.gross - s.refunded) = r.bucket
            ORDER BY s.gross - s.refunded
            OFFSET r.k - r.before - 1 LIMIT 1;
        ELSE
            SELECT s.gross - s.refunded INTO v
            FROM customer_summary s
            WHERE ltv_bucket(s.gross - s.refunded) = r.bucket AND s.purchases > 0
            ORDER BY s.gross - s.refunded
            OFFSET r.k - r.before - 1 LIMIT 1;
        END IF;
        found := found || v;
    END LOOP;
    RETURN found;
END
$$;

-- The cuts of the default window, from the marginals (rfm_cube has one row per
-- last purchase day x purchases, 42,194 rows at 1M customers; the marginals
-- ~1,100 and ~340).
CREATE OR REPLACE FUNCTION ltv_rfm_cuts(OUT n bigint, OUT day_cut date[], OUT frequency_cut bigint[],
                                        OUT monetary_neg_cut numeric[])
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    SELECT coalesce(sum(c.customers), 0) INTO n FROM rfm_purchases c;
    IF n = 0 THEN
        RETURN;
    END IF;
    WITH d AS MATERIALIZED (
        SELECT c.last_day AS v, sum(c.customers) OVER (ORDER BY c.last_day) AS cum FROM rfm_days c
    ), f AS MATERIALIZED (
        SELECT c.purchases AS v, sum(c.customers) OVER (ORDER BY c.purchases) AS cum FROM rfm_purchases c
    )
    SELECT array_agg((SELECT min(d.v) FROM d WHERE d.cum >= (j * n + 4) / 5) ORDER BY j),
           array_agg((SELECT min(f.v) FROM f WHERE f.cum >= (j * n + 4) / 5) ORDER BY j)
    INTO day_cut, frequency_cut
    FROM generate_series(1, 4) j;
    SELECT array_agg(-v ORDER BY v DESC) INTO monetary_neg_cut
    FROM unnest(ltv_rfm_monetary_at(ARRAY[(n + 4) / 5, (2 * n + 4) / 5, (3 * n + 4) / 5, (4 * n + 4) / 5])) v;
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

-- ltv_rfm_scores for the default window when the profile answers as_of
-- (nothing otherwise): one pass over purchasers' profiles, scored against the
-- cuts. A plain scan of customer_summary, so a page by monetary comes off the
-- customer_summary_ltv index.
CREATE OR REPLACE FUNCTION ltv_rfm_current(as_of date)
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
  FROM ltv_rfm_cuts() k
  CROSS JOIN customer_summary s
  CROSS JOIN LATERAL (SELECT ltv_rfm_r(ltv_utc_day(s.last_purchase_at), k.day_cut) AS r,
                             ltv_rfm_f(s.purchases, k.frequency_cut) AS f,
                             ltv_rfm_m(s.gross - s.refunded, k.monetary_neg_cut) AS m) x
  WHERE ltv_summary_answers(as_of) AND s.purchases > 0
$$;

-- Per segment, for the default window when the profile answers as_of
-- (nothing otherwise): customers and the sums of recency_days, frequency and
-- monetary, from rfm_cube. min_frequency (null: none) drops customers after
-- scoring, as the pipe's output filter does.
CREATE OR REPLACE FUNCTION ltv_rfm_segments_current(as_of date, min_frequency bigint)
RETURNS TABLE (rfm_segment text, customers bigint, recency_sum numeric, frequency_sum numeric,
               monetary_sum numeric)
LANGUAGE sql STABLE
AS $$
  SELECT ltv_rfm_segment(g.r, g.f), sum(g.customers)::bigint, sum(g.recency_sum),
         sum(g.frequency_sum), sum(g.monetary_sum)
  FROM (SELECT ltv_rfm_r(c.last_day, k.day_cut) AS r, ltv_rfm_f(c.purchases, k.frequency_cut) AS f,
               sum(c.customers) AS customers, sum(c.customers * (as_of - c.last_day)) AS recency_sum,
               sum(c.customers * c.purchases) AS frequency_sum, sum(c.monetary) AS monetary_sum
        FROM ltv_rfm_cuts() k CROSS JOIN rfm_cube c
        WHERE ltv_summary_answers(as_of) AND c.customers <> 0
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
-- marginals rfm_days and rfm_purchases (summed from the cube's own delta).
-- Purchasers only; key order.
CREATE OR REPLACE FUNCTION ltv_rfm_apply(old customer_summary[], new customer_summary[]) RETURNS void
LANGUAGE sql
AS $$
  WITH src AS MATERIALIZED (
    SELECT 1 AS sign, n.last_purchase_at, n.purchases, n.gross - n.refunded AS net
    FROM unnest(new) n WHERE n.purchases > 0
    UNION ALL
    SELECT -1, o.last_purchase_at, o.purchases, o.gross - o.refunded FROM unnest(old) o WHERE o.purchases > 0
  ), delta AS MATERIALIZED (
    SELECT ltv_utc_day(x.last_purchase_at) AS last_day, x.purchases,
           sum(x.sign) AS customers, sum(x.sign * x.net) AS monetary
    FROM src x
    GROUP BY 1, 2
    HAVING sum(x.sign) <> 0 OR sum(x.sign * x.net) <> 0
  ), cube AS (
    INSERT INTO rfm_cube AS c
    SELECT * FROM delta ORDER BY 1, 2
    ON CONFLICT (last_day, purchases) DO UPDATE SET
        customers = c.customers + EXCLUDED.customers, monetary = c.monetary + EXCLUDED.monetary
  ), days AS (
    INSERT INTO rfm_days AS d
    SELECT last_day, sum(customers) FROM delta GROUP BY 1 HAVING sum(customers) <> 0 ORDER BY 1
    ON CONFLICT (last_day) DO UPDATE SET customers = d.customers + EXCLUDED.customers
  ), purchases AS (
    INSERT INTO rfm_purchases AS p
    SELECT purchases, sum(customers) FROM delta GROUP BY 1 HAVING sum(customers) <> 0 ORDER BY 1
    ON CONFLICT (purchases) DO UPDATE SET customers = p.customers + EXCLUDED.customers
  )
  INSERT INTO rfm_monetary AS m
  SELECT ltv_bucket(x.net), sum(x.sign) FROM src x
  GROUP BY 1 HAVING sum(x.sign) <> 0 ORDER BY 1
  ON CONFLICT (bucket) DO UPDATE SET customers = m.customers + EXCLUDED.customers
$$;
