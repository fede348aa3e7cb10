-- The retention cube: for registration cohorts by month, quarter and year, the
-- customers active (with a purchase) and the net revenue in each period since
-- the cohort's, by the attributes pipes filter on. The retention matrix for the
-- latest data is then a sum over cube rows instead of a pass over every
-- customer's daily activity. Two levels, each kept by statement-level triggers
-- in the same transaction as the write that changes it:
--
--   customer_day_category --> customer_period (customer, period length, period)
--   customer_period + customer_summary (cohort, attributes) --> cohort_activity
--
-- A customer whose registration or attributes change is moved: its periods are
-- subtracted under the old key and added under the new one.

CREATE TABLE customer_period (
    customer_id text     NOT NULL,
    months      smallint NOT NULL,  -- 1, 3 or 12
    period_idx  integer  NOT NULL,  -- month index / months
    purchases   bigint   NOT NULL,
    net         numeric  NOT NULL,  -- gross - refunded
    PRIMARY KEY (customer_id, months, period_idx)
);

CREATE TABLE cohort_activity (
    months             smallint NOT NULL,
    -- 0: by country, segment and acquisition_source; 1: all customers (the
    -- attributes ''), so an unfiltered matrix sums a few hundred rows.
    grain              smallint NOT NULL,
    cohort_idx         integer  NOT NULL,  -- the registration's period index
    country            text     NOT NULL,  -- '' = none, as in customer_cube
    segment            text     NOT NULL,
    acquisition_source text     NOT NULL,
    period_idx         integer  NOT NULL,
    active             bigint   NOT NULL,
    net                numeric  NOT NULL,
    PRIMARY KEY (months, grain, cohort_idx, country, segment, acquisition_source, period_idx)
);

-- customer_day_category → customer_period.
CREATE FUNCTION ltv_customer_period_apply() RETURNS trigger
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

CREATE TRIGGER customer_day_category_period_insert AFTER INSERT ON customer_day_category
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ltv_customer_period_apply();
CREATE TRIGGER customer_day_category_period_update AFTER UPDATE ON customer_day_category
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ltv_customer_period_apply();

-- A period row's contribution to cohort_activity, given its customer's
-- profile: none for customers without a registration or before the cohort.
CREATE FUNCTION ltv_activity_rows(sign integer, s customer_summary, p customer_period)
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
CREATE FUNCTION ltv_activity_sql(source text) RETURNS text
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

-- customer_period changes → cohort_activity (the customer's current profile).
CREATE FUNCTION ltv_cohort_activity_apply() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE ltv_activity_sql('SELECT d.* FROM new_rows n JOIN customer_summary s USING (customer_id),
                                  ltv_activity_rows(1, s, n) d');
    ELSE
        EXECUTE ltv_activity_sql('SELECT d.* FROM new_rows n JOIN customer_summary s USING (customer_id),
                                  ltv_activity_rows(1, s, n) d
                                  UNION ALL
                                  SELECT d.* FROM old_rows o JOIN customer_summary s USING (customer_id),
                                  ltv_activity_rows(-1, s, o) d');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER customer_period_activity_insert AFTER INSERT ON customer_period
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ltv_cohort_activity_apply();
CREATE TRIGGER customer_period_activity_update AFTER UPDATE ON customer_period
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ltv_cohort_activity_apply();

-- A profile whose cohort or attributes changed moves its periods to the new key.
CREATE FUNCTION ltv_cohort_activity_rekey() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    moved text := '(date_trunc(''month'', o.registration_date AT TIME ZONE ''UTC''), o.country, o.segment, o.acquisition_source)
                   IS DISTINCT FROM
                   (date_trunc(''month'', n.registration_date AT TIME ZONE ''UTC''), n.country, n.segment, n.acquisition_source)';
BEGIN
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

CREATE TRIGGER customer_summary_activity_rekey AFTER UPDATE ON customer_summary
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ltv_cohort_activity_rekey();

-- Activity stored before this migration.
INSERT INTO customer_period
SELECT d.customer_id, m.months, d.month_idx / m.months, sum(d.purchases), sum(d.gross - d.refunded)
FROM customer_day_category d CROSS JOIN (VALUES (1::smallint), (3::smallint), (12::smallint)) m(months)
GROUP BY 1, 2, 3;
