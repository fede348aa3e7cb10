-- The cohort cube: for registration cohorts by month, quarter and year, per
-- period (the cohort's own, later ones, and earlier ones for purchases made
-- before registering) and the attributes pipes filter on, the customers active
-- (with a purchase), the purchases, gross and refunded amounts, and the first
-- buyers (members whose first purchase falls in the period). The retention
-- matrix and the cohorts' lifetime totals as of any day are sums over its rows
-- instead of a pass over every customer's daily activity: a period's rows are
-- final once it has ended. Two levels, each kept per batch in the transaction
-- of the write that changes it (sql/11_ingest.sql):
--
--   new transactions --> customer_period (customer, period length, period)
--   customer_period + customer_summary (cohort, attributes) --> cohort_activity
--   customer_summary (first purchase)                       --> first_buyers
--
-- A customer whose registration or attributes change is moved: its periods are
-- subtracted under the old key and added under the new one.

-- Maintained by sql/11_ingest.sql since the triggers were removed (no
-- trigger writes to another table): drop them from databases that had them.
DROP TRIGGER IF EXISTS customer_day_category_period_insert ON customer_day_category;
DROP TRIGGER IF EXISTS customer_day_category_period_update ON customer_day_category;
DROP TRIGGER IF EXISTS customer_period_activity_insert ON customer_period;
DROP TRIGGER IF EXISTS customer_period_activity_update ON customer_period;
DROP TRIGGER IF EXISTS customer_summary_activity_rekey ON customer_summary;
DROP FUNCTION IF EXISTS ltv_customer_period_apply(), ltv_cohort_activity_apply(), ltv_cohort_activity_rekey(),
    ltv_activity_sql(text);

-- Changed result types (the basis, the sums and the first buyers of the
-- cohort cube): the old definitions go first.
DROP FUNCTION IF EXISTS ltv_retention_partial(date, integer, date, date, text, text, text);
DROP FUNCTION IF EXISTS ltv_cohort_partial(date, integer, date, date, text, text, text);
DROP FUNCTION IF EXISTS ltv_registered_at_edges(timestamptz, timestamptz, integer);

-- A customer's cohort (a period index of `months` months) by `basis`: 0, the
-- period of its registration; 1, the period of its first purchase. Null when
-- it has none. Inlined into the calling query (a plain expression).
CREATE OR REPLACE FUNCTION ltv_cohort_idx(basis integer, registration_date timestamptz,
                                          first_purchase_at timestamptz, months integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT ltv_month_idx(ltv_utc_day(CASE basis WHEN 0 THEN registration_date ELSE first_purchase_at END)) / months
$$;

-- A profile's cohorts for periods of `months` months, by both bases, each
-- with the attributes it is filed under ('' = none; a transaction-only
-- customer has none).
DROP FUNCTION IF EXISTS ltv_cohort_keys(customer_summary, integer);
CREATE OR REPLACE FUNCTION ltv_cohort_keys(p_registration timestamptz, p_first_purchase timestamptz,
                                           p_country text, p_segment text, p_source text, months integer)
RETURNS TABLE (basis smallint, cohort_idx integer, country text, segment text, acquisition_source text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT b.basis, ltv_cohort_idx(b.basis, p_registration, p_first_purchase, months),
         coalesce(p_country, ''), coalesce(p_segment, ''), coalesce(p_source, '')
  FROM (VALUES (0::smallint), (1::smallint)) b(basis)
  WHERE ltv_cohort_idx(b.basis, p_registration, p_first_purchase, months) IS NOT NULL
$$;

-- A period row's contribution to cohort_activity under each of its
-- customer's cohorts. Activity before the cohort's period (a purchase before
-- registering, a refund before the first purchase) is kept: it belongs to no
-- retention period, but it is part of the cohort's lifetime totals.
CREATE OR REPLACE FUNCTION ltv_activity_rows(sign integer, s customer_summary, p customer_period)
RETURNS SETOF cohort_activity
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT p.months, k.basis, 7::smallint, k.cohort_idx, k.country, k.segment, k.acquisition_source, p.period_idx,
         sign * (p.purchases > 0)::int::bigint, sign * p.purchases, sign * p.gross, sign * p.refunded, 0::bigint
  FROM ltv_cohort_keys(s.registration_date, s.first_purchase_at, s.country, s.segment, s.acquisition_source,
                       p.months) k
$$;

-- A profile's first purchase as cohort_activity rows: 1 in first_buyers of
-- the period of its first purchase, under each of its cohorts, for every
-- period length. The paying members of a registration cohort as of a day are
-- the sum of first_buyers over the periods up to it; a first-purchase
-- cohort's members are its first buyers.
CREATE OR REPLACE FUNCTION ltv_first_buyer_rows(sign integer, s customer_summary)
RETURNS SETOF cohort_activity
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT m.months, k.basis, 7::smallint, k.cohort_idx, k.country, k.segment, k.acquisition_source,
         ltv_month_idx(ltv_utc_day(s.first_purchase_at)) / m.months,
         0::bigint, 0::bigint, 0::numeric, 0::numeric, sign::bigint
  FROM (VALUES (1::smallint), (3::smallint), (12::smallint)) m(months)
  CROSS JOIN LATERAL ltv_cohort_keys(s.registration_date, s.first_purchase_at, s.country, s.segment,
                                      s.acquisition_source, m.months) k
  WHERE s.first_purchase_at IS NOT NULL
$$;

-- Adds delta rows (with every attribute) to cohort_activity under each
-- combination of kept attributes (ltv_attribute_keys). Summed by the full key
-- first, then under each combination: a batch's rows share few keys, and the
-- eightfold rows are made from the sums, not from every delta row.
CREATE OR REPLACE FUNCTION ltv_activity_add(delta cohort_activity[]) RETURNS void
LANGUAGE sql
AS $$
  INSERT INTO cohort_activity AS a
  SELECT x.months, x.basis, g.kept, x.cohort_idx, g.country, g.segment, g.acquisition_source,
         x.period_idx,
         sum(x.active), sum(x.purchases), sum(x.gross), sum(x.refunded), sum(x.first_buyers)
  FROM (SELECT d.months, d.basis, d.cohort_idx, d.country, d.segment, d.acquisition_source, d.period_idx,
               sum(d.active) AS active, sum(d.purchases) AS purchases, sum(d.gross) AS gross,
               sum(d.refunded) AS refunded, sum(d.first_buyers) AS first_buyers
        FROM unnest(delta) d
        GROUP BY 1, 2, 3, 4, 5, 6, 7
        OFFSET 0) x,
       ltv_attribute_keys(x.country, x.segment, x.acquisition_source) g
  GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
  HAVING sum(x.active) <> 0 OR sum(x.purchases) <> 0 OR sum(x.gross) <> 0 OR sum(x.refunded) <> 0
      OR sum(x.first_buyers) <> 0
  ON CONFLICT (months, basis, kept, country, segment, acquisition_source, cohort_idx, period_idx) DO UPDATE SET
      active = a.active + EXCLUDED.active, purchases = a.purchases + EXCLUDED.purchases,
      gross = a.gross + EXCLUDED.gross, refunded = a.refunded + EXCLUDED.refunded,
      first_buyers = a.first_buyers + EXCLUDED.first_buyers
$$;

-- New transactions (with their purchase flag p) -> customer_period, then
-- cohort_activity under each customer's cohorts (`profiles`: the batch's
-- customers after the batch; ltv_activity_rekey has moved their stored
-- periods to these cohorts first). A period's `active` moves only when its
-- purchases go from 0 to more: the upsert returns the new count, the delta
-- gives the old one.
CREATE OR REPLACE FUNCTION ltv_period_apply(rows transactions[], profiles customer_summary[]) RETURNS void
LANGUAGE sql
AS $$
  WITH t AS (
    SELECT r.customer_id, ltv_month_idx(ltv_utc_day(r.transaction_date)) AS month_idx,
           (NOT (r.is_refund = 1 OR coalesce(r.transaction_type, '') = 'refund'))::int AS p, r.amount
    FROM unnest(rows) r
  ), delta AS (
    SELECT t.customer_id, m.months, t.month_idx / m.months AS period_idx, sum(t.p)::bigint AS purchases,
           coalesce(sum(t.amount) FILTER (WHERE t.p = 1), 0) AS gross,
           coalesce(sum(t.amount) FILTER (WHERE t.p = 0), 0) AS refunded
    FROM t CROSS JOIN (VALUES (1::smallint), (3::smallint), (12::smallint)) m(months)
    GROUP BY 1, 2, 3
    HAVING sum(t.p) <> 0 OR sum(t.amount) <> 0
  ), upserted AS (
    INSERT INTO customer_period AS c (customer_id, months, period_idx, purchases, gross, refunded)
    SELECT * FROM delta ORDER BY 1, 2, 3
    ON CONFLICT (customer_id, months, period_idx) DO UPDATE SET
        purchases = c.purchases + EXCLUDED.purchases, gross = c.gross + EXCLUDED.gross,
        refunded = c.refunded + EXCLUDED.refunded
    RETURNING c.*
  )
  SELECT ltv_activity_add(array_agg(ROW(x.months, x.basis, 7, x.cohort_idx, x.country, x.segment,
                                        x.acquisition_source, x.period_idx,
                                        -- active: 1 now minus 1 before (before = the new
                                        -- count minus the delta); the sums: the delta itself.
                                        x.active - (u.purchases - d.purchases > 0)::int::bigint,
                                        d.purchases, d.gross, d.refunded, 0)::cohort_activity))
  FROM upserted u
  JOIN delta d USING (customer_id, months, period_idx)
  JOIN unnest(profiles) s USING (customer_id)
  CROSS JOIN LATERAL ltv_activity_rows(1, s, u) x
$$;

-- A batch's profiles before and after (the same ids), paired: those whose
-- cohort_activity keys changed, i.e. a registration or first-purchase month
-- or a filter attribute (a new registration, an upsert that moves the
-- customer, a first purchase earlier than the stored one). Every other
-- profile's rows keep their keys. Inlined.
CREATE OR REPLACE FUNCTION ltv_moved_profiles(old customer_summary[], new customer_summary[])
RETURNS TABLE (o customer_summary, n customer_summary)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT o, n
  FROM unnest(old) o JOIN unnest(new) n USING (customer_id)
  WHERE (date_trunc('month', o.registration_date AT TIME ZONE 'UTC'),
         date_trunc('month', o.first_purchase_at AT TIME ZONE 'UTC'), o.country, o.segment, o.acquisition_source)
        IS DISTINCT FROM
        (date_trunc('month', n.registration_date AT TIME ZONE 'UTC'),
         date_trunc('month', n.first_purchase_at AT TIME ZONE 'UTC'), n.country, n.segment, n.acquisition_source)
$$;

-- A batch's moved profiles (ltv_moved_profiles) move their stored periods to
-- the new keys. Run before the batch's own periods are added. Most batches
-- move nobody; the set difference answers that before any period is read.
-- (The first purchase itself moves with ltv_first_buyers_apply.)
CREATE OR REPLACE FUNCTION ltv_activity_rekey(old customer_summary[], new customer_summary[]) RETURNS void
LANGUAGE sql
AS $$
  WITH moved AS (
    SELECT m.o, m.n FROM ltv_moved_profiles(old, new) m
  )
  SELECT ltv_activity_add(array_agg(moved_rows.r))
  FROM (SELECT x FROM moved m JOIN customer_period p ON p.customer_id = (m.n).customer_id,
                      ltv_activity_rows(1, m.n, p) x
        UNION ALL
        SELECT x FROM moved m JOIN customer_period p ON p.customer_id = (m.o).customer_id,
                      ltv_activity_rows(-1, m.o, p) x) moved_rows(r)
  HAVING count(*) > 0
$$;

-- A batch's profiles before and after: first_buyers follows each moved
-- profile (new minus old). A profile that did not move keeps its first
-- purchase's month, cohorts and attributes, so its rows cancel out: they are
-- not made at all.
CREATE OR REPLACE FUNCTION ltv_first_buyers_apply(old customer_summary[], new customer_summary[]) RETURNS void
LANGUAGE sql
AS $$
  SELECT ltv_activity_add(array_agg(ROW(x.months, x.basis, 7, x.cohort_idx, x.country, x.segment,
                                        x.acquisition_source, x.period_idx, 0, 0, 0, 0,
                                        x.first_buyers)::cohort_activity))
  FROM (SELECT d.months, d.basis, d.cohort_idx, d.country, d.segment, d.acquisition_source, d.period_idx,
               sum(d.first_buyers) AS first_buyers
        FROM ltv_moved_profiles(old, new) m,
             LATERAL (SELECT f.* FROM ltv_first_buyer_rows(1, m.n) f
                      UNION ALL SELECT f.* FROM ltv_first_buyer_rows(-1, m.o) f) d
        GROUP BY 1, 2, 3, 4, 5, 6, 7
        HAVING sum(d.first_buyers) <> 0) x
  HAVING count(*) > 0
$$;

-- Cohorts and retention for any as_of from the cube. A period's activity is
-- fixed once the period is over: events dated after as_of fall in as_of's
-- period or later. So for registration cohorts whose whole period lies inside
-- the registration window and ends by as_of (and for first-purchase cohorts
-- without a window), every period that ended by as_of comes from
-- cohort_activity as it is, and only as_of's own period, when events are
-- dated after as_of inside it, is read from the daily rollup
-- (ltv_cohort_partial). The window's partial periods (and as_of's own, when
-- it has not ended) are edge customers (ltv_registered_at_edges).

-- The registration window as the retention cube sees it: when somebody
-- registered after as_of, its end is at most the end of as_of (later
-- registrations are no members, so as_of's unfinished period is an edge);
-- otherwise the window as given (the cube's cohorts are as_of's members).
CREATE OR REPLACE FUNCTION ltv_registration_end(end_ts timestamptz, as_of date) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN ltv_all_registered_by(as_of) THEN end_ts
              ELSE least(coalesce(end_ts, 'infinity'), ltv_day_end(as_of) - interval '1 microsecond') END
$$;

-- The last period index (of `months` months) that cohort_activity answers
-- for as_of: every period when no transaction is dated after as_of, else
-- the periods that ended by as_of.
CREATE OR REPLACE FUNCTION ltv_cube_through(as_of date, months integer) RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN as_of >= coalesce(ltv_max_transaction_day(), '-infinity'::date) THEN 2147483647
              WHEN ltv_month_idx(as_of + 1) / months > ltv_month_idx(as_of) / months
                THEN ltv_month_idx(as_of) / months
              ELSE ltv_month_idx(as_of) / months - 1 END
$$;

-- Registered customers in [start_ts, end_ts] outside the whole periods
-- [ltv_whole_from(start_ts), ltv_whole_to(end_ts)): two ranges of the
-- profile's registration index. Attributes are the stored (latest) ones, the
-- totals the profile's (all time).
CREATE OR REPLACE FUNCTION ltv_registered_at_edges(start_ts timestamptz, end_ts timestamptz, months integer)
RETURNS TABLE (customer_id text, registration_date timestamptz, country text, segment text,
               acquisition_source text, purchases bigint, gross numeric, refunded numeric)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT s.customer_id, s.registration_date, s.country, s.segment, s.acquisition_source,
         s.purchases, s.gross, s.refunded
  FROM customer_summary s
  WHERE s.registration_date >= coalesce(start_ts, '-infinity')
    AND s.registration_date <= coalesce(end_ts, 'infinity')
    AND s.registration_date < ltv_whole_from(start_ts, months)::timestamp AT TIME ZONE 'UTC'
  UNION ALL
  SELECT s.customer_id, s.registration_date, s.country, s.segment, s.acquisition_source,
         s.purchases, s.gross, s.refunded
  FROM customer_summary s
  WHERE s.registration_date >= coalesce(start_ts, '-infinity')
    AND s.registration_date <= coalesce(end_ts, 'infinity')
    AND s.registration_date >= greatest(ltv_whole_from(start_ts, months), ltv_whole_to(end_ts, months))::timestamp AT TIME ZONE 'UTC'
$$;

-- as_of's own period when cohort_activity does not answer it
-- (ltv_cube_through): what cohort_activity would hold for the period's start
-- up to as_of, read from the daily rollup, per cohort of `basis` (0: by
-- registration, the whole cohorts in [whole_from, whole_to); 1: by first
-- purchase, the customers with one by as_of) matching the filters (null:
-- none): the customers active, the purchases, gross and refunded amounts, and
-- the first buyers (members whose first purchase falls in it); for cohorts by
-- first purchase also the earlier refunds of as_of's own cohort. Nothing
-- otherwise.
CREATE OR REPLACE FUNCTION ltv_cohort_partial(as_of date, months integer, basis integer, whole_from date,
                                              whole_to date, f_country text, f_segment text, f_source text)
RETURNS TABLE (cohort_idx integer, period_idx integer, active bigint, purchases bigint, gross numeric,
               refunded numeric, first_buyers bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    -- plpgsql, not an inlined SQL function: for the latest data (the
    -- default call) nothing below is planned or run.
    IF ltv_cube_through(as_of, months) >= ltv_month_idx(as_of) / months THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT k.cohort_idx, ltv_month_idx(as_of) / months,
           count(*) FILTER (WHERE x.purchases > 0), sum(x.purchases)::bigint, sum(x.gross), sum(x.refunded),
           count(*) FILTER (WHERE s.first_purchase_at >= ltv_period_start(as_of, months)::timestamp AT TIME ZONE 'UTC'
                              AND s.first_purchase_at < ltv_day_end(as_of))
    FROM (SELECT d.customer_id, sum(d.purchases) AS purchases, sum(d.gross) AS gross, sum(d.refunded) AS refunded
          FROM customer_day_category d
          WHERE d.day >= ltv_period_start(as_of, months) AND d.day <= as_of
          GROUP BY d.customer_id) x
    -- Each active customer's profile by key (OFFSET 0 keeps this a lookup):
    -- a hash join would read all of them.
    CROSS JOIN LATERAL (SELECT p.registration_date, p.first_purchase_at, p.country, p.segment, p.acquisition_source
                        FROM customer_summary p WHERE p.customer_id = x.customer_id OFFSET 0) s
    CROSS JOIN LATERAL (SELECT ltv_cohort_idx(basis, s.registration_date, s.first_purchase_at, months) AS cohort_idx) k
    WHERE k.cohort_idx IS NOT NULL
      AND (basis = 1 OR (s.registration_date >= whole_from::timestamp AT TIME ZONE 'UTC'
                         AND s.registration_date < whole_to::timestamp AT TIME ZONE 'UTC'))
      AND (basis = 0 OR s.first_purchase_at < ltv_day_end(as_of))
      AND (f_country IS NULL OR s.country = f_country)
      AND (f_segment IS NULL OR s.segment = f_segment)
      AND (f_source IS NULL OR s.acquisition_source = f_source)
    GROUP BY 1, 2;
    IF basis = 1 THEN
        -- The members of as_of's own first-purchase cohort (first purchase
        -- from the period's start to as_of): their refunds dated before it
        -- (no purchase can be) are part of the cohort's lifetime totals, in a
        -- period before the cohort's. The cube cannot answer this cohort: it
        -- also holds customers whose first purchase came after as_of.
        RETURN QUERY
        SELECT ltv_month_idx(as_of) / months, ltv_month_idx(as_of) / months - 1,
               0::bigint, 0::bigint, 0::numeric, sum(e.refunded), 0::bigint
        FROM (SELECT DISTINCT d.customer_id FROM customer_day_category d
              WHERE d.day >= ltv_period_start(as_of, months) AND d.day <= as_of) x
        JOIN customer_summary s ON s.customer_id = x.customer_id
        CROSS JOIN LATERAL (SELECT sum(e.refunded) AS refunded FROM customer_day_category e
                            WHERE e.customer_id = s.customer_id AND e.day < ltv_period_start(as_of, months)) e
        WHERE s.first_purchase_at >= ltv_period_start(as_of, months)::timestamp AT TIME ZONE 'UTC'
          AND s.first_purchase_at < ltv_day_end(as_of)
          AND (f_country IS NULL OR s.country = f_country)
          AND (f_segment IS NULL OR s.segment = f_segment)
          AND (f_source IS NULL OR s.acquisition_source = f_source)
        GROUP BY 1, 2
        HAVING sum(e.refunded) IS NOT NULL;
    END IF;
END
$$;

-- The cube's rows a cohort or retention call reads, for periods of `months`
-- months and cohorts of `basis`: the whole cohorts in [whole_from, whole_to)
-- for every period up to `through` (ltv_cube_through) and as_of's own period
-- from the daily rollup when the cube does not answer it (ltv_cohort_partial),
-- under exactly the filtered attributes (f_*: null, not filtered; '' matches
-- nobody). The one definition both pipes read; inlined into the caller.
CREATE OR REPLACE FUNCTION ltv_cohort_rows(as_of date, months integer, basis integer, whole_from date,
                                           whole_to date, through integer,
                                           f_country text, f_segment text, f_source text)
RETURNS TABLE (cohort_idx integer, period_idx integer, active bigint, purchases bigint, gross numeric,
               refunded numeric, first_buyers bigint)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT r.cohort_idx, r.period_idx, r.active, r.purchases, r.gross, r.refunded, r.first_buyers
  FROM ltv_cohort_partial(as_of, months, basis, whole_from, whole_to, f_country, f_segment, f_source) r
  UNION ALL
  SELECT k.cohort_idx, k.period_idx, k.active, k.purchases, k.gross, k.refunded, k.first_buyers
  FROM cohort_activity k
  WHERE k.months = ltv_cohort_rows.months AND k.basis = ltv_cohort_rows.basis
    AND ltv_key_matches(k.kept, k.country, k.segment, k.acquisition_source, f_country, f_segment, f_source)
    AND k.cohort_idx >= ltv_month_bound(whole_from) / ltv_cohort_rows.months
    AND k.cohort_idx < ltv_month_bound(whole_to) / ltv_cohort_rows.months
    AND k.period_idx <= through
    -- First-purchase cohorts that began after as_of are no cohorts yet, and
    -- as_of's own, unless the cube answers its period, comes from the rollup
    -- (the cube also files there customers who bought after as_of).
    AND (ltv_cohort_rows.basis = 0 OR k.cohort_idx <= through)
$$;
