-- The retention cube: for registration cohorts by month, quarter and year, the
-- customers active (with a purchase) and the net revenue in each period since
-- the cohort's, by the attributes pipes filter on. The retention matrix for the
-- latest data is a sum over cube rows instead of a pass over every customer's
-- daily activity. Two levels, each kept by statement-level triggers in the same
-- transaction as the write that changes it:
--
--   customer_day_category --> customer_period (customer, period length, period)
--   customer_period + customer_summary (cohort, attributes) --> cohort_activity
--
-- A customer whose registration or attributes change is moved: its periods are
-- subtracted under the old key and added under the new one.

-- customer_day_category → customer_period.
CREATE OR REPLACE FUNCTION ltv_customer_period_apply() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    source text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT customer_id, month_idx, purchases, gross - refunded AS net FROM new_rows'
        ELSE 'SELECT customer_id, month_idx, purchases, gross - refunded AS net FROM new_rows
              UNION ALL SELECT customer_id, month_idx, -purchases, refunded - gross FROM old_rows' END;
BEGIN
    EXECUTE 'INSERT INTO customer_period AS c
             SELECT x.customer_id, m.months, x.month_idx / m.months, sum(x.purchases), sum(x.net)
             FROM (' || source || ') x CROSS JOIN (VALUES (1::smallint), (3::smallint), (12::smallint)) m(months)
             GROUP BY 1, 2, 3
             HAVING sum(x.purchases) <> 0 OR sum(x.net) <> 0
             ORDER BY 1, 2, 3
             ON CONFLICT (customer_id, months, period_idx) DO UPDATE SET
                 purchases = c.purchases + EXCLUDED.purchases, net = c.net + EXCLUDED.net';
    RETURN NULL;
END
$$;

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

-- The statement adding the delta rows of `source` (months, cohort_idx,
-- country, segment, acquisition_source, period_idx, active, net) to
-- cohort_activity. Trigger functions EXECUTE it themselves: transition tables
-- are visible only to the trigger function's own statements.
CREATE OR REPLACE FUNCTION ltv_activity_sql(source text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    RETURN 'INSERT INTO cohort_activity AS a
             SELECT x.months, g.grain, x.cohort_idx,
                    CASE g.grain WHEN 0 THEN x.country ELSE '''' END,
                    CASE g.grain WHEN 0 THEN x.segment ELSE '''' END,
                    CASE g.grain WHEN 0 THEN x.acquisition_source ELSE '''' END,
                    x.period_idx, sum(x.active), sum(x.net)
             FROM (' || source || ') x CROSS JOIN (VALUES (0::smallint), (1::smallint)) g(grain)
             GROUP BY 1, 2, 3, 4, 5, 6, 7
             HAVING sum(x.active) <> 0 OR sum(x.net) <> 0
             ORDER BY 1, 2, 3, 4, 5, 6, 7
             ON CONFLICT (months, grain, cohort_idx, country, segment, acquisition_source, period_idx) DO UPDATE SET
                 active = a.active + EXCLUDED.active, net = a.net + EXCLUDED.net';
END
$$;

-- Cheaper trigger work per ingested batch, found with auto_explain on a batch
-- of 20,000 transactions for random customers at 1M customers (numbers in
-- docs/PERFORMANCE.md). Same results; less work.

-- A profile whose cohort or attributes changed moves its periods to the new
-- key. Nearly every customer_summary update (each transaction batch) moves
-- nobody, and the join that finds the moved ones was planned as "join every
-- updated customer's periods, then filter": a hashed set difference of the
-- keys answers "anyone moved?" first; only then does the join run.
CREATE OR REPLACE FUNCTION ltv_cohort_activity_rekey() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    moved text := '(date_trunc(''month'', o.registration_date AT TIME ZONE ''UTC''), o.country, o.segment, o.acquisition_source)
                   IS DISTINCT FROM
                   (date_trunc(''month'', n.registration_date AT TIME ZONE ''UTC''), n.country, n.segment, n.acquisition_source)';
BEGIN
    IF NOT EXISTS (
        SELECT customer_id, date_trunc('month', registration_date AT TIME ZONE 'UTC'), country, segment, acquisition_source
        FROM new_rows
        EXCEPT ALL
        SELECT customer_id, date_trunc('month', registration_date AT TIME ZONE 'UTC'), country, segment, acquisition_source
        FROM old_rows) THEN
        RETURN NULL;
    END IF;
    EXECUTE ltv_activity_sql('
        SELECT d.* FROM old_rows o JOIN new_rows n ON n.customer_id = o.customer_id
                   JOIN customer_period p ON p.customer_id = n.customer_id, ltv_activity_rows(1, n, p) d
        WHERE ' || moved || '
        UNION ALL
        SELECT d.* FROM old_rows o JOIN new_rows n ON n.customer_id = o.customer_id
                   JOIN customer_period p ON p.customer_id = o.customer_id, ltv_activity_rows(-1, o, p) d
        WHERE ' || moved);
    RETURN NULL;
END
$$;

-- customer_period changes -> cohort_activity, under the customer's current
-- profile. Each changed period needs its customer's profile; joined directly,
-- the planner hashed all of customer_summary (a sequential scan of every
-- customer, twice) for a batch of tens of thousands of rows. One index probe
-- per distinct customer instead; the old rows' customers are the new rows'.
CREATE OR REPLACE FUNCTION ltv_cohort_activity_apply() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    profiles text := 'WITH prof AS MATERIALIZED (
                          SELECT i.customer_id,
                                 (SELECT s FROM customer_summary s WHERE s.customer_id = i.customer_id) AS s
                          FROM (SELECT DISTINCT customer_id FROM new_rows) i) ';
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE ltv_activity_sql(profiles || 'SELECT d.* FROM new_rows n JOIN prof USING (customer_id),
                                  ltv_activity_rows(1, prof.s, n) d');
    ELSE
        EXECUTE ltv_activity_sql(profiles || 'SELECT d.* FROM new_rows n JOIN prof USING (customer_id),
                                  ltv_activity_rows(1, prof.s, n) d
                                  UNION ALL
                                  SELECT d.* FROM old_rows o JOIN prof USING (customer_id),
                                  ltv_activity_rows(-1, prof.s, o) d');
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS customer_day_category_period_insert ON customer_day_category;
CREATE TRIGGER customer_day_category_period_insert AFTER INSERT ON customer_day_category
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ltv_customer_period_apply();

DROP TRIGGER IF EXISTS customer_day_category_period_update ON customer_day_category;
CREATE TRIGGER customer_day_category_period_update AFTER UPDATE ON customer_day_category
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ltv_customer_period_apply();

DROP TRIGGER IF EXISTS customer_period_activity_insert ON customer_period;
CREATE TRIGGER customer_period_activity_insert AFTER INSERT ON customer_period
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ltv_cohort_activity_apply();

DROP TRIGGER IF EXISTS customer_period_activity_update ON customer_period;
CREATE TRIGGER customer_period_activity_update AFTER UPDATE ON customer_period
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ltv_cohort_activity_apply();

DROP TRIGGER IF EXISTS customer_summary_activity_rekey ON customer_summary;
CREATE TRIGGER customer_summary_activity_rekey AFTER UPDATE ON customer_summary
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ltv_cohort_activity_rekey();
