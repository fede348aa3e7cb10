-- The LTV histogram: how many customers (and how much LTV) fall into each
-- logarithmic LTV bucket (ltv_bucket, in the baseline migration), by the
-- attributes pipes filter on (every combination of them: ltv_attribute_keys).
-- An exact median or top-10% share then needs the
-- histogram (to find the bucket that holds the wanted rank) plus one index
-- range scan of that bucket's few thousand customers, instead of sorting every
-- customer. Kept per batch, like customer_cube.

-- Maintained by sql/11_ingest.sql since the triggers were removed (no
-- trigger writes to another table): drop them from databases that had them.
DROP TRIGGER IF EXISTS customer_summary_histogram_insert ON customer_summary;
DROP TRIGGER IF EXISTS customer_summary_histogram_update ON customer_summary;
DROP FUNCTION IF EXISTS ltv_histogram_apply();

-- The k-th smallest LTV (1-based) among the current members matching the
-- filters (null: any; '' matches nobody, as in the general queries), or null
-- when there are fewer than k. The histogram
-- finds the bucket; one index range scan of that bucket finds the value.
CREATE OR REPLACE FUNCTION ltv_kth_smallest(k bigint, f_country text, f_segment text, f_source text)
RETURNS numeric
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    b integer;
    before bigint;
    v numeric;
BEGIN
    IF k < 1 THEN
        RETURN NULL;
    END IF;
    SELECT x.bucket, x.cum - x.customers INTO b, before
    FROM (SELECT h.bucket, sum(h.customers) AS customers,
                 sum(sum(h.customers)) OVER (ORDER BY h.bucket) AS cum
          FROM ltv_histogram h
          WHERE ltv_key_matches(h.kept, h.country, h.segment, h.acquisition_source, f_country, f_segment, f_source)
          GROUP BY h.bucket) x
    WHERE x.cum >= k
    ORDER BY x.bucket
    LIMIT 1;
    IF b IS NULL THEN
        RETURN NULL;
    ELSIF b = 0 THEN
        RETURN 0;  -- bucket 0 holds exactly the zeros
    END IF;
    SELECT s.gross - s.refunded INTO v
    FROM customer_summary s
    WHERE ltv_bucket(s.gross - s.refunded) = b
      AND (s.registration_date IS NOT NULL OR s.purchases + s.refunds > 0)
      AND (f_country IS NULL OR (s.registration_date IS NOT NULL AND s.country = f_country))
      AND (f_segment IS NULL OR (s.registration_date IS NOT NULL AND s.segment = f_segment))
      AND (f_source IS NULL OR (s.registration_date IS NOT NULL AND s.acquisition_source = f_source))
    ORDER BY s.gross - s.refunded
    OFFSET k - before - 1 LIMIT 1;
    RETURN v;
END
$$;

-- The sum of the m largest LTVs among the current members matching the filters.
CREATE OR REPLACE FUNCTION ltv_top_sum(m bigint, f_country text, f_segment text, f_source text)
RETURNS numeric
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    b integer;
    above bigint;
    above_sum numeric;
    rest numeric;
BEGIN
    IF m <= 0 THEN
        RETURN 0;
    END IF;
    SELECT x.bucket, x.cum - x.customers, x.cum_ltv - x.ltv INTO b, above, above_sum
    FROM (SELECT h.bucket, sum(h.customers) AS customers, sum(h.ltv) AS ltv,
                 sum(sum(h.customers)) OVER (ORDER BY h.bucket DESC) AS cum,
                 sum(sum(h.ltv)) OVER (ORDER BY h.bucket DESC) AS cum_ltv
          FROM ltv_histogram h
          WHERE ltv_key_matches(h.kept, h.country, h.segment, h.acquisition_source, f_country, f_segment, f_source)
          GROUP BY h.bucket) x
    WHERE x.cum >= m
    ORDER BY x.bucket DESC
    LIMIT 1;
    IF b IS NULL THEN
        RETURN NULL;
    ELSIF b = 0 THEN
        RETURN above_sum;  -- the rest are zeros
    END IF;
    SELECT coalesce(sum(t.v), 0) INTO rest
    FROM (SELECT s.gross - s.refunded AS v
          FROM customer_summary s
          WHERE ltv_bucket(s.gross - s.refunded) = b
            AND (s.registration_date IS NOT NULL OR s.purchases + s.refunds > 0)
            AND (f_country IS NULL OR (s.registration_date IS NOT NULL AND s.country = f_country))
            AND (f_segment IS NULL OR (s.registration_date IS NOT NULL AND s.segment = f_segment))
            AND (f_source IS NULL OR (s.registration_date IS NOT NULL AND s.acquisition_source = f_source))
          ORDER BY s.gross - s.refunded DESC
          LIMIT m - above) t;
    RETURN above_sum + rest;
END
$$;

-- The exact median LTV of the n current members matching the filters: the
-- mean of the ((n+1)/2)-th and ((n+2)/2)-th smallest (as ltv_median), both
-- read in one bucket scan when they share a bucket.
CREATE OR REPLACE FUNCTION ltv_histogram_median(n bigint, f_country text, f_segment text, f_source text)
RETURNS numeric
LANGUAGE plpgsql STABLE
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
    FROM (SELECT h.bucket, sum(h.customers) AS customers,
                 sum(sum(h.customers)) OVER (ORDER BY h.bucket) AS cum
          FROM ltv_histogram h
          WHERE ltv_key_matches(h.kept, h.country, h.segment, h.acquisition_source, f_country, f_segment, f_source)
          GROUP BY h.bucket) x
    WHERE x.cum >= k1
    ORDER BY x.bucket
    LIMIT 1;
    IF b IS NULL THEN
        RETURN NULL;
    END IF;
    IF k2 - before > in_bucket THEN
        -- The upper middle value opens the next bucket.
        RETURN (ltv_kth_smallest(k1, f_country, f_segment, f_source)
                + ltv_kth_smallest(k2, f_country, f_segment, f_source)) / 2;
    ELSIF b = 0 THEN
        RETURN 0;
    END IF;
    SELECT array_agg(t.v ORDER BY t.v) INTO v
    FROM (SELECT s.gross - s.refunded AS v
          FROM customer_summary s
          WHERE ltv_bucket(s.gross - s.refunded) = b
            AND (s.registration_date IS NOT NULL OR s.purchases + s.refunds > 0)
            AND (f_country IS NULL OR (s.registration_date IS NOT NULL AND s.country = f_country))
            AND (f_segment IS NULL OR (s.registration_date IS NOT NULL AND s.segment = f_segment))
            AND (f_source IS NULL OR (s.registration_date IS NOT NULL AND s.acquisition_source = f_source))
          ORDER BY s.gross - s.refunded
          OFFSET k1 - before - 1 LIMIT k2 - k1 + 1) t;
    RETURN (v[1] + v[cardinality(v)]) / 2;
END
$$;

-- A batch's profiles before and after -> the histogram's delta: members and
-- attributes exactly as customer_cube counts them; ltv_bucket (a numeric
-- logarithm) once per row. Summed by attributes and bucket first (a profile
-- whose bucket did not move cancels its own count there), then under each
-- combination of kept attributes.
CREATE OR REPLACE FUNCTION ltv_histogram_apply(old customer_summary[], new customer_summary[]) RETURNS void
LANGUAGE sql
AS $$
  INSERT INTO ltv_histogram AS h
  SELECT g.kept, g.country, g.segment, g.acquisition_source, x.bucket, sum(x.customers), sum(x.ltv)
  FROM (SELECT y.country, y.segment, y.acquisition_source, ltv_bucket(y.v) AS bucket,
               sum(y.customers) AS customers, sum(y.customers * y.v) AS ltv
        FROM (SELECT d.*, n.gross - n.refunded AS v FROM unnest(new) n, ltv_cube_rows(1, n) d
              UNION ALL SELECT d.*, o.gross - o.refunded FROM unnest(old) o, ltv_cube_rows(-1, o) d) y
        GROUP BY 1, 2, 3, 4
        OFFSET 0) x,
       ltv_attribute_keys(x.country, x.segment, x.acquisition_source) g
  GROUP BY 1, 2, 3, 4, 5
  HAVING sum(x.customers) <> 0 OR sum(x.ltv) <> 0
  ON CONFLICT (kept, country, segment, acquisition_source, bucket) DO UPDATE SET
      customers = h.customers + EXCLUDED.customers, ltv = h.ltv + EXCLUDED.ltv
$$;
