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
