-- The retention cube: for registration cohorts by month, quarter and year, the
-- customers active (with a purchase) and the net revenue in each period since
-- the cohort's, by the attributes pipes filter on. The retention matrix for the
-- latest data is a sum over cube rows instead of a pass over every customer's
-- daily activity. Two levels, each kept per batch in the transaction of the
-- write that changes it (sql/11_ingest.sql):
--
--   new transactions --> customer_period (customer, period length, period)
--   customer_period + customer_summary (cohort, attributes) --> cohort_activity
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

-- A period row's contribution to cohort_activity, given its customer's
-- profile: none for customers without a registration or before the cohort.
CREATE OR REPLACE FUNCTION ltv_activity_rows(sign integer, s customer_summary, p customer_period)
RETURNS TABLE (months smallint, cohort_idx integer, country text, segment text,
               acquisition_source text, period_idx integer, active bigint, net numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT p.months, k.cohort_idx, coalesce(s.country, ''), coalesce(s.segment, ''),
         coalesce(s.acquisition_source, ''), p.period_idx,
         sign * (p.purchases > 0)::int::bigint, sign * p.net
  FROM (SELECT ltv_month_idx(ltv_utc_day(s.registration_date)) / p.months AS cohort_idx) k
  WHERE s.registration_date IS NOT NULL AND p.period_idx >= k.cohort_idx
$$;

-- Adds delta rows (months, cohort_idx, country, segment, acquisition_source,
-- period_idx, active, net) to cohort_activity at both grains, in key order.
CREATE OR REPLACE FUNCTION ltv_activity_add(delta cohort_activity[]) RETURNS void
LANGUAGE sql
AS $$
  INSERT INTO cohort_activity AS a
  SELECT x.months, g.grain, x.cohort_idx,
         CASE g.grain WHEN 0 THEN x.country ELSE '' END,
         CASE g.grain WHEN 0 THEN x.segment ELSE '' END,
         CASE g.grain WHEN 0 THEN x.acquisition_source ELSE '' END,
         x.period_idx, sum(x.active), sum(x.net)
  FROM unnest(delta) x CROSS JOIN (VALUES (0::smallint), (1::smallint)) g(grain)
  GROUP BY 1, 2, 3, 4, 5, 6, 7
  HAVING sum(x.active) <> 0 OR sum(x.net) <> 0
  ORDER BY 1, 2, 3, 4, 5, 6, 7
  ON CONFLICT (months, grain, cohort_idx, country, segment, acquisition_source, period_idx) DO UPDATE SET
      active = a.active + EXCLUDED.active, net = a.net + EXCLUDED.net
$$;

-- New transactions (with their purchase flag p) -> customer_period, then
-- cohort_activity under each customer's profile (`profiles`: the batch's
-- customers, whose cohort and attributes a transaction does not change). A
-- period's `active` moves only when its purchases go from 0 to more: the
-- upsert returns the new count, the delta gives the old one.
CREATE OR REPLACE FUNCTION ltv_period_apply(rows transactions[], profiles customer_summary[]) RETURNS void
LANGUAGE sql
AS $$
  WITH t AS (
    SELECT r.customer_id, ltv_month_idx(ltv_utc_day(r.transaction_date)) AS month_idx,
           (NOT (r.is_refund = 1 OR coalesce(r.transaction_type, '') = 'refund'))::int AS p, r.amount
    FROM unnest(rows) r
  ), delta AS (
    SELECT t.customer_id, m.months, t.month_idx / m.months AS period_idx, sum(t.p)::bigint AS purchases,
           sum(CASE WHEN t.p = 1 THEN t.amount ELSE -t.amount END) AS net
    FROM t CROSS JOIN (VALUES (1::smallint), (3::smallint), (12::smallint)) m(months)
    GROUP BY 1, 2, 3
    HAVING sum(t.p) <> 0 OR sum(CASE WHEN t.p = 1 THEN t.amount ELSE -t.amount END) <> 0
  ), upserted AS (
    INSERT INTO customer_period AS c
    SELECT * FROM delta ORDER BY 1, 2, 3
    ON CONFLICT (customer_id, months, period_idx) DO UPDATE SET
        purchases = c.purchases + EXCLUDED.purchases, net = c.net + EXCLUDED.net
    RETURNING c.*
  )
  SELECT ltv_activity_add(array_agg(ROW(a.months, 0, a.cohort_idx, a.country, a.segment, a.acquisition_source,
                                        a.period_idx, a.active, a.net)::cohort_activity))
  FROM upserted u
  JOIN delta d USING (customer_id, months, period_idx)
  JOIN unnest(profiles) s USING (customer_id)
  CROSS JOIN LATERAL (
      -- active: 1 now minus 1 before (before = the new count minus the delta).
      SELECT x.months, x.cohort_idx, x.country, x.segment, x.acquisition_source, x.period_idx,
             x.active - (u.purchases - d.purchases > 0)::int::bigint AS active, d.net AS net
      FROM ltv_activity_rows(1, s, u) x) a
$$;

-- A batch's profiles before and after an upsert of customers: a customer whose
-- cohort or attributes changed moves its periods to the new key. Most batches
-- move nobody; the set difference answers that before any period is read.
CREATE OR REPLACE FUNCTION ltv_activity_rekey(old customer_summary[], new customer_summary[]) RETURNS void
LANGUAGE sql
AS $$
  WITH moved AS (
    SELECT o, n
    FROM unnest(old) o JOIN unnest(new) n USING (customer_id)
    WHERE (date_trunc('month', o.registration_date AT TIME ZONE 'UTC'), o.country, o.segment, o.acquisition_source)
          IS DISTINCT FROM
          (date_trunc('month', n.registration_date AT TIME ZONE 'UTC'), n.country, n.segment, n.acquisition_source)
  )
  SELECT ltv_activity_add(array_agg(ROW(d.months, 0, d.cohort_idx, d.country, d.segment, d.acquisition_source,
                                        d.period_idx, d.active, d.net)::cohort_activity))
  FROM (SELECT x.* FROM moved m JOIN customer_period p ON p.customer_id = (m.n).customer_id,
                        ltv_activity_rows(1, m.n, p) x
        UNION ALL
        SELECT x.* FROM moved m JOIN customer_period p ON p.customer_id = (m.o).customer_id,
                        ltv_activity_rows(-1, m.o, p) x) d
  HAVING count(*) > 0
$$;

-- Retention for any as_of from the cube. A period's activity is fixed once
-- the period is over: events dated after as_of fall in as_of's period or
-- later. So for registration cohorts whose whole period lies inside the
-- registration window and ends by as_of, every period that ended by as_of
-- comes from cohort_activity as it is, and only as_of's own period, when
-- events are dated after as_of inside it, is read from the daily rollup
-- (ltv_retention_partial). The window's partial periods (and as_of's own,
-- when it has not ended) are edge customers (ltv_registered_at_edges).

-- The registration window as the retention cube sees it: when somebody
-- registered after as_of, its end is at most the end of as_of (later
-- registrations are no members, so as_of's unfinished period is an edge);
-- otherwise the window as given (the cube's cohorts are as_of's members).
CREATE OR REPLACE FUNCTION ltv_registration_end(end_ts timestamptz, as_of date) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN coalesce((SELECT max(registration_date) FROM customers) < ltv_day_end(as_of), true)
              THEN end_ts
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
-- profile's registration index. Attributes are the stored (latest) ones.
CREATE OR REPLACE FUNCTION ltv_registered_at_edges(start_ts timestamptz, end_ts timestamptz, months integer)
RETURNS TABLE (customer_id text, registration_date timestamptz, country text, segment text,
               acquisition_source text)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT s.customer_id, s.registration_date, s.country, s.segment, s.acquisition_source
  FROM customer_summary s
  WHERE s.registration_date >= coalesce(start_ts, '-infinity')
    AND s.registration_date <= coalesce(end_ts, 'infinity')
    AND s.registration_date < ltv_whole_from(start_ts, months)::timestamp AT TIME ZONE 'UTC'
  UNION ALL
  SELECT s.customer_id, s.registration_date, s.country, s.segment, s.acquisition_source
  FROM customer_summary s
  WHERE s.registration_date >= coalesce(start_ts, '-infinity')
    AND s.registration_date <= coalesce(end_ts, 'infinity')
    AND s.registration_date >= greatest(ltv_whole_from(start_ts, months), ltv_whole_to(end_ts, months))::timestamp AT TIME ZONE 'UTC'
$$;

-- as_of's own period when cohort_activity does not answer it
-- (ltv_cube_through): per whole cohort in [whole_from, whole_to) matching the
-- filters (null: none), the customers active and the net amount from the
-- period's start to as_of, read from the daily rollup. Nothing otherwise.
CREATE OR REPLACE FUNCTION ltv_retention_partial(as_of date, months integer, whole_from date, whole_to date,
                                                 f_country text, f_segment text, f_source text)
RETURNS TABLE (cohort_idx integer, period_idx integer, active bigint, net numeric)
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    -- plpgsql, not an inlined SQL function: for the latest data (the
    -- default call) nothing below is planned or run.
    IF ltv_cube_through(as_of, months) >= ltv_month_idx(as_of) / months THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT ltv_month_idx(ltv_utc_day(s.registration_date)) / months, ltv_month_idx(as_of) / months,
           count(*) FILTER (WHERE x.purchases > 0), sum(x.net)
    FROM (SELECT d.customer_id, sum(d.purchases) AS purchases, sum(d.gross - d.refunded) AS net
          FROM customer_day_category d
          WHERE d.day >= ltv_period_start(as_of, months) AND d.day <= as_of
          GROUP BY d.customer_id) x
    JOIN customer_summary s ON s.customer_id = x.customer_id
    WHERE s.registration_date >= whole_from::timestamp AT TIME ZONE 'UTC'
      AND s.registration_date < whole_to::timestamp AT TIME ZONE 'UTC'
      AND (f_country IS NULL OR s.country = f_country)
      AND (f_segment IS NULL OR s.segment = f_segment)
      AND (f_source IS NULL OR s.acquisition_source = f_source)
    GROUP BY 1, 2;
END
$$;
