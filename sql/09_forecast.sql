-- The served BG/NBD + Gamma-Gamma forecast (src/forecasting/): its inputs,
-- and the default ltv_forecast page without ranking every customer. The
-- default call (no filter, margin 1, horizon 12 months, discount rate 0.10,
-- ordered by predicted_clv) would rank every predicted customer for the
-- tiers; instead each prediction keeps its predicted CLV for those defaults
-- (forecast_predictions.default_clv, indexed by fit), and each fit keeps, per
-- tier, the value a customer must exceed to be in it (forecast_default_tiers),
-- so the page is an index range scan of `limit` rows compared against three
-- numbers.

-- The tier cuts are stored by the fit (src/forecasting/) and by a change of
-- the tier settings, not by triggers: drop those from databases that had them.
DROP TRIGGER IF EXISTS forecast_predictions_tiers ON forecast_predictions;
DROP TRIGGER IF EXISTS forecast_settings_tiers ON forecast_settings;
DROP FUNCTION IF EXISTS ltv_forecast_predictions_tiers(), ltv_forecast_settings_tiers();

-- Per customer with a purchase day up to as_of (docs/METRICS.md "Forecast", daily
-- periods): frequency = distinct purchase days - 1, recency = last - first
-- purchase day, t = as_of - first purchase day, monetary_value = mean net
-- amount (gross - refunded over the day's categories) of the repeat purchase
-- days (all but the first), 0 when frequency = 0.
CREATE OR REPLACE FUNCTION ltv_forecast_inputs(as_of date)
RETURNS TABLE (customer_id text, frequency integer, recency integer, t integer, monetary_value float8)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  WITH days AS (
    SELECT d.customer_id, d.day, sum(d.gross - d.refunded) AS net,
           row_number() OVER (PARTITION BY d.customer_id ORDER BY d.day) AS n
    FROM customer_day_category d
    WHERE d.day <= as_of
    GROUP BY d.customer_id, d.day
    HAVING sum(d.purchases) > 0
  )
  SELECT days.customer_id, (count(*) - 1)::integer, max(day) - min(day), as_of - min(day),
         coalesce(avg(net) FILTER (WHERE n > 1), 0)::float8
  FROM days
  GROUP BY days.customer_id
$$;

-- The value a customer must exceed to have a cumulative share <= `share`.
CREATE OR REPLACE FUNCTION ltv_forecast_cut(fit bigint, n bigint, share float8) RETURNS float8
LANGUAGE sql STABLE AS $$
  SELECT coalesce(
           (SELECT p.default_clv FROM forecast_predictions p
            WHERE p.fit_id = fit
            ORDER BY p.default_clv DESC, p.customer_id
            OFFSET k.k LIMIT 1),
           '-Infinity'::float8)
  FROM (
    -- floor(share * n) is within one of K; the float8 test decides.
    SELECT max(c) AS k
    FROM generate_series(greatest(floor(share * n)::bigint - 2, 0),
                         least(floor(share * n)::bigint + 2, n)) c
    WHERE c::float8 / n::float8 <= share
  ) k
  WHERE n > 0
$$;

CREATE OR REPLACE FUNCTION ltv_forecast_store_tiers(fit bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  s forecast_settings;
  total bigint;
BEGIN
  SELECT * INTO s FROM forecast_settings WHERE id = 1;
  SELECT count(*) INTO total FROM forecast_predictions WHERE fit_id = fit;
  IF s IS NULL OR total = 0 THEN
    DELETE FROM forecast_default_tiers WHERE fit_id = fit;
    RETURN;
  END IF;
  -- The cumulative shares exactly as the pipe's `ranked` node adds them.
  INSERT INTO forecast_default_tiers AS d
  VALUES (fit, s.platinum, s.gold, s.silver, total,
          ltv_forecast_cut(fit, total, s.platinum),
          ltv_forecast_cut(fit, total, s.platinum + s.gold),
          ltv_forecast_cut(fit, total, s.platinum + s.gold + s.silver))
  ON CONFLICT (fit_id) DO UPDATE SET
      platinum = EXCLUDED.platinum, gold = EXCLUDED.gold, silver = EXCLUDED.silver,
      n = EXCLUDED.n, platinum_cut = EXCLUDED.platinum_cut,
      gold_cut = EXCLUDED.gold_cut, silver_cut = EXCLUDED.silver_cut;
END
$$;

-- The fit a request with this as_of reads (the pipe's node `p`): today or
-- later (or none) the latest current fit, a past day its pinned fit.
CREATE OR REPLACE FUNCTION ltv_forecast_fit_id(as_of date) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT f.id FROM forecast_fits f
  WHERE CASE WHEN ltv_forecast_fit_id.as_of IS NULL OR ltv_forecast_fit_id.as_of >= ltv_today()
             THEN f.kind = 'current'
             ELSE f.kind = 'pinned' AND f.as_of = ltv_forecast_fit_id.as_of END
  ORDER BY f.id DESC LIMIT 1
$$;

-- The as_of of that fit: the point of view of its predictions. A function of
-- the request's parameter, so that a pipe reading the customers of this
-- as_of (ltv_customers) has PostgreSQL choose the profile or the daily
-- rollup once, at the start, instead of running both.
CREATE OR REPLACE FUNCTION ltv_forecast_as_of(as_of date) RETURNS date
LANGUAGE sql STABLE AS $$
  SELECT f.as_of FROM forecast_fits f WHERE f.id = ltv_forecast_fit_id(ltv_forecast_as_of.as_of)
$$;

-- The default page may be read from the cuts: they exist for the fit and were
-- computed for the tier shares in force, and the all-time profile answers the
-- fit's as_of (the page reads each customer's attributes and totals from it
-- by key; `ltv_customers` would hash every customer).
CREATE OR REPLACE FUNCTION ltv_forecast_default_ready(as_of date) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (
    SELECT 1 FROM forecast_default_tiers d
    JOIN forecast_settings s ON s.id = 1
    JOIN forecast_fits f ON f.id = d.fit_id
    WHERE d.fit_id = ltv_forecast_fit_id(ltv_forecast_default_ready.as_of)
      AND (d.platinum, d.gold, d.silver) = (s.platinum, s.gold, s.silver)
      AND ltv_cube_answers(f.as_of))
$$;

-- Every fit's cuts again, for new tier settings (src/forecasting/, at start-up
-- when forecast.tiers changed).
CREATE OR REPLACE FUNCTION ltv_forecast_store_all_tiers() RETURNS void
LANGUAGE sql
AS $$
  SELECT ltv_forecast_store_tiers(f.id) FROM forecast_fits f
  WHERE EXISTS (SELECT 1 FROM forecast_predictions p WHERE p.fit_id = f.id)
$$;
