-- Influencing factors for the latest data without a pass over every customer.
-- The population is the known customers (a registration); each has exactly
-- one value per factor (ltv_factor_values). Kept per batch from the
-- profiles, like customer_cube:
--
--   factor_cube         per factor value: customers and the sums the pipe's
--                       averages and shares divide (a few dozen rows);
--   factor_histogram    per factor value and ltv_bucket: customers, so an
--                       exact median is one bucket's index range scan (as
--                       ltv_histogram_median does for the whole population);
--   factor_correlation  per metric: n and the sums of x, y, x², y², xy that
--                       Pearson's r needs (y = ltv).
--
-- Tenure is as_of - registration day: r against it is minus r against the
-- registration day, which does not move with as_of, so that is what is kept.

-- Maintained by sql/11_ingest.sql since the triggers were removed (no
-- trigger writes to another table): drop them from databases that had them.
DROP TRIGGER IF EXISTS customer_summary_factor_insert ON customer_summary;
DROP TRIGGER IF EXISTS customer_summary_factor_update ON customer_summary;
DROP FUNCTION IF EXISTS ltv_factor_apply(), ltv_factor_source(text, text, text);

-- The age_band factor's value of an age (docs/METRICS.md, "Influencing
-- factors").
CREATE OR REPLACE FUNCTION ltv_age_band(age integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE
           WHEN age IS NULL THEN 'unknown'
           WHEN age < 18 THEN '<18'
           WHEN age <= 24 THEN '18-24'
           WHEN age <= 34 THEN '25-34'
           WHEN age <= 44 THEN '35-44'
           WHEN age <= 54 THEN '45-54'
           WHEN age <= 64 THEN '55-64'
           ELSE '65+' END
$$;

-- The primary_channel / top_category factor's value of a stored channel or
-- category: '' (sent empty) is 'unknown', none at all is 'none'.
CREATE OR REPLACE FUNCTION ltv_factor_label(v text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT coalesce(CASE WHEN v = '' THEN 'unknown' ELSE v END, 'none') $$;

-- The pipe's factors of a profile (none without a registration), in the
-- pipe's order.
CREATE OR REPLACE FUNCTION ltv_factor_values(s customer_summary)
RETURNS TABLE (factor smallint, value text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT f.factor, f.value
  FROM (VALUES
      (1::smallint, coalesce(s.acquisition_source, 'unknown')),
      (2::smallint, coalesce(s.segment, 'unknown')),
      (3::smallint, coalesce(s.country, 'unknown')),
      (4::smallint, coalesce(s.gender, 'unknown')),
      (5::smallint, ltv_age_band(s.age)),
      (6::smallint, ltv_factor_label(s.primary_channel)),
      (7::smallint, ltv_factor_label(s.top_category))
  ) AS f(factor, value)
  WHERE s.registration_date IS NOT NULL
$$;

-- One factor's value of a profile (null without a registration): the row of
-- ltv_factor_values for that factor, as a filter a bucket scan can apply to
-- each customer without building all seven.
CREATE OR REPLACE FUNCTION ltv_factor_value(f smallint, s customer_summary) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN s.registration_date IS NULL THEN NULL
              WHEN f = 1 THEN coalesce(s.acquisition_source, 'unknown')
              WHEN f = 2 THEN coalesce(s.segment, 'unknown')
              WHEN f = 3 THEN coalesce(s.country, 'unknown')
              WHEN f = 4 THEN coalesce(s.gender, 'unknown')
              WHEN f = 5 THEN ltv_age_band(s.age)
              WHEN f = 6 THEN ltv_factor_label(s.primary_channel)
              WHEN f = 7 THEN ltv_factor_label(s.top_category)
         END
$$;

CREATE OR REPLACE FUNCTION ltv_factor_name(factor smallint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT (ARRAY['acquisition_source', 'segment', 'country', 'gender', 'age_band',
                'primary_channel', 'top_category'])[factor]
$$;

-- The correlation metrics of a profile: (metric, x) where x is known;
-- metric 5 is the registration day (see above). y is the profile's ltv.
CREATE OR REPLACE FUNCTION ltv_factor_metrics(s customer_summary)
RETURNS TABLE (metric smallint, x numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT m.metric, m.x
  FROM (VALUES
      (1::smallint, s.age::numeric),
      (2::smallint, s.interactions::numeric),
      (3::smallint, s.support_contacts::numeric),
      (4::smallint, s.satisfaction_sum::numeric / nullif(s.satisfaction_n, 0)),
      (5::smallint, (ltv_utc_day(s.registration_date) - date '2000-01-01')::numeric)
  ) AS m(metric, x)
  WHERE s.registration_date IS NOT NULL AND m.x IS NOT NULL
$$;

-- True when the factor tables answer as_of: the cube does (no transaction or
-- registration after it) and no interaction is dated after it either.
CREATE OR REPLACE FUNCTION ltv_factors_answer(as_of date) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT ltv_cube_answers(as_of) AND as_of >= coalesce(ltv_max_interaction_day(), '-infinity'::date)
$$;

-- The pipe's population for an as_of: every known customer with its totals,
-- interactions, primary channel and top category. When the factor tables
-- answer as_of (no event or registration after it), all of it is one row of
-- customer_summary, so a filtered call reads the matching profiles and
-- nothing else; otherwise the customers of as_of with their interaction
-- totals up to it, and channel and category null (the pipe computes them from
-- the daily rollups for its population only). Exactly one branch runs.
CREATE OR REPLACE FUNCTION ltv_factor_population(as_of date)
RETURNS TABLE (customer_id text, registration_date timestamptz, country text, segment text,
               acquisition_source text, gender text, age integer, purchases bigint,
               gross numeric, refunded numeric, interactions bigint, support_contacts bigint,
               satisfaction_sum bigint, satisfaction_n bigint, primary_channel text, top_category text)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT s.customer_id, s.registration_date, s.country, s.segment, s.acquisition_source, s.gender,
         s.age, s.purchases, s.gross, s.refunded, s.interactions, s.support_contacts,
         s.satisfaction_sum, s.satisfaction_n, s.primary_channel, s.top_category
  FROM customer_summary s
  WHERE ltv_factors_answer(as_of) AND s.registration_date IS NOT NULL
  UNION ALL
  SELECT c.customer_id, c.registration_date, c.country, c.segment, c.acquisition_source, c.gender,
         c.age, c.purchases, c.gross, c.refunded, coalesce(i.interactions, 0),
         coalesce(i.support_contacts, 0), coalesce(i.satisfaction_sum, 0), coalesce(i.satisfaction_n, 0),
         NULL, NULL
  FROM ltv_customers(as_of) c
  LEFT JOIN ltv_interaction_totals(as_of) i ON i.customer_id = c.customer_id
  WHERE NOT ltv_factors_answer(as_of) AND c.known
$$;

-- Pearson's r from the sums; null below 2 values or without variance. Both
-- paths of the pipe use it, so they agree to the last digit.
CREATE OR REPLACE FUNCTION ltv_pearson(n bigint, sx numeric, sy numeric, sxx numeric, syy numeric, sxy numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN n < 2 OR (n * sxx - sx * sx) <= 0 OR (n * syy - sy * sy) <= 0 THEN NULL
              ELSE (n * sxy - sx * sy) / sqrt((n * sxx - sx * sx) * (n * syy - sy * sy)) END
$$;

-- The exact median LTV of the n known profiles with this factor value: the
-- mean of the ((n+1)/2)-th and ((n+2)/2)-th smallest (as ltv_median). The
-- histogram finds the bucket of the lower one; an index scan of that bucket
-- in LTV order, keeping the factor value's customers, stops at the wanted
-- rank (and reads the upper one too when it is in the same bucket). Bitmap
-- scans are off here: they would read and sort the whole bucket.
CREATE OR REPLACE FUNCTION ltv_factor_median(f_factor smallint, f_value text, n bigint) RETURNS numeric
LANGUAGE plpgsql STABLE
SET enable_bitmapscan = off
AS $$
DECLARE
    k1 bigint := (n + 1) / 2;
    k2 bigint := (n + 2) / 2;
    b integer;
    before bigint;
    in_bucket bigint;
    v numeric[];
BEGIN
    IF n < 1 THEN
        RETURN NULL;
    END IF;
    SELECT x.bucket, x.cum - x.customers, x.customers INTO b, before, in_bucket
    FROM (SELECT h.bucket, h.customers, sum(h.customers) OVER (ORDER BY h.bucket) AS cum
          FROM factor_histogram h
          WHERE h.factor = f_factor AND h.value = f_value AND h.customers <> 0) x
    WHERE x.cum >= k1
    ORDER BY x.bucket
    LIMIT 1;
    IF b IS NULL THEN
        RETURN NULL;
    ELSIF k2 - before > in_bucket THEN
        -- The upper middle value opens the next bucket.
        RETURN (ltv_factor_kth(f_factor, f_value, k1) + ltv_factor_kth(f_factor, f_value, k2)) / 2;
    ELSIF b = 0 THEN
        RETURN 0;  -- bucket 0 holds exactly the zeros
    END IF;
    SELECT array_agg(t.v ORDER BY t.v) INTO v
    FROM (SELECT s.gross - s.refunded AS v
          FROM customer_summary s
          WHERE ltv_bucket(s.gross - s.refunded) = b AND ltv_factor_value(f_factor, s) = f_value
          ORDER BY s.gross - s.refunded
          OFFSET k1 - before - 1 LIMIT k2 - k1 + 1) t;
    RETURN (v[1] + v[cardinality(v)]) / 2;
END
$$;

-- The k-th smallest LTV (1-based) of the known profiles with this factor
-- value; null when there are fewer than k.
CREATE OR REPLACE FUNCTION ltv_factor_kth(f_factor smallint, f_value text, k bigint) RETURNS numeric
LANGUAGE plpgsql STABLE
SET enable_bitmapscan = off
AS $$
DECLARE
    b integer;
    before bigint;
    v numeric;
BEGIN
    SELECT x.bucket, x.cum - x.customers INTO b, before
    FROM (SELECT h.bucket, h.customers, sum(h.customers) OVER (ORDER BY h.bucket) AS cum
          FROM factor_histogram h
          WHERE h.factor = f_factor AND h.value = f_value AND h.customers <> 0) x
    WHERE x.cum >= k
    ORDER BY x.bucket
    LIMIT 1;
    IF b IS NULL THEN
        RETURN NULL;
    ELSIF b = 0 THEN
        RETURN 0;
    END IF;
    SELECT s.gross - s.refunded INTO v
    FROM customer_summary s
    WHERE ltv_bucket(s.gross - s.refunded) = b AND ltv_factor_value(f_factor, s) = f_value
    ORDER BY s.gross - s.refunded
    OFFSET k - before - 1 LIMIT 1;
    RETURN v;
END
$$;

-- A batch's profiles before and after -> factor_cube, factor_histogram and
-- factor_correlation. Known profiles only (ltv_factor_values and
-- ltv_factor_metrics give nothing without a registration).
CREATE OR REPLACE FUNCTION ltv_factor_apply(old customer_summary[], new customer_summary[]) RETURNS void
LANGUAGE sql
AS $$
  WITH p AS MATERIALIZED (
    SELECT 1 AS sign, n AS s, ltv_bucket(n.gross - n.refunded) AS bucket FROM unnest(new) n
    WHERE n.registration_date IS NOT NULL
    UNION ALL
    SELECT -1, o, ltv_bucket(o.gross - o.refunded) FROM unnest(old) o WHERE o.registration_date IS NOT NULL
  ), v AS MATERIALIZED (
    SELECT p.sign, p.bucket, (p.s).gross - (p.s).refunded AS ltv, (p.s).purchases, (p.s).gross,
           (p.s).interactions, (p.s).satisfaction_sum, (p.s).satisfaction_n, f.factor, f.value
    FROM p, ltv_factor_values(p.s) f
  ), cube AS (
    INSERT INTO factor_cube AS c
    SELECT d.factor, d.value, sum(d.sign), sum(d.sign * d.ltv), sum(d.sign * d.purchases),
           sum(d.sign * d.gross), sum(d.sign * d.interactions), sum(d.sign * d.satisfaction_sum),
           sum(d.sign * d.satisfaction_n)
    FROM v d
    GROUP BY 1, 2
    HAVING sum(d.sign) <> 0 OR sum(d.sign * d.ltv) <> 0 OR sum(d.sign * d.purchases) <> 0
        OR sum(d.sign * d.gross) <> 0 OR sum(d.sign * d.interactions) <> 0
        OR sum(d.sign * d.satisfaction_sum) <> 0 OR sum(d.sign * d.satisfaction_n) <> 0
    ON CONFLICT (factor, value) DO UPDATE SET
        customers = c.customers + EXCLUDED.customers, ltv = c.ltv + EXCLUDED.ltv,
        purchases = c.purchases + EXCLUDED.purchases, gross = c.gross + EXCLUDED.gross,
        interactions = c.interactions + EXCLUDED.interactions,
        satisfaction_sum = c.satisfaction_sum + EXCLUDED.satisfaction_sum,
        satisfaction_n = c.satisfaction_n + EXCLUDED.satisfaction_n
  ), histogram AS (
    INSERT INTO factor_histogram AS h
    SELECT d.factor, d.value, d.bucket, sum(d.sign)
    FROM v d
    GROUP BY 1, 2, 3
    HAVING sum(d.sign) <> 0
    ON CONFLICT (factor, value, bucket) DO UPDATE SET customers = h.customers + EXCLUDED.customers
  )
  INSERT INTO factor_correlation AS c
  SELECT d.metric, sum(d.sign), sum(d.sign * d.x), sum(d.sign * d.y), sum(d.sign * d.x * d.x),
         sum(d.sign * d.y * d.y), sum(d.sign * d.x * d.y)
  FROM (SELECT p.sign, m.metric, m.x, (p.s).gross - (p.s).refunded AS y
        FROM p, ltv_factor_metrics(p.s) m) d
  GROUP BY 1
  HAVING sum(d.sign) <> 0 OR sum(d.sign * d.x) <> 0 OR sum(d.sign * d.y) <> 0
      OR sum(d.sign * d.x * d.x) <> 0 OR sum(d.sign * d.y * d.y) <> 0
      OR sum(d.sign * d.x * d.y) <> 0
  ON CONFLICT (metric) DO UPDATE SET
      n = c.n + EXCLUDED.n, sx = c.sx + EXCLUDED.sx, sy = c.sy + EXCLUDED.sy,
      sxx = c.sxx + EXCLUDED.sxx, syy = c.syy + EXCLUDED.syy, sxy = c.sxy + EXCLUDED.sxy
$$;
