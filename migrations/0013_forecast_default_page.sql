-- The default ltv_forecast page without ranking every customer.
--
-- The default call (no filter, margin 1, horizon 12 months, discount rate
-- 0.10, ordered by predicted_clv) ranked every predicted customer on each
-- request for the tiers: seconds at 1M customers. Here each prediction keeps
-- its predicted CLV for those defaults (`default_clv`, indexed by fit), and
-- each fit keeps, per tier, the value a customer must exceed to be in it
-- (`forecast_default_tiers`), so the page is an index range scan of `limit`
-- rows compared against three numbers.

-- The pipe's general formula (ltv_forecast.pipe, node `scored`) written out
-- for horizon 12, margin 1 and discount rate 0.10, term by term in the order
-- sum() adds them, so the value is the same float8 the general path computes
-- (tests/api/fast_paths.rs compares the two answers). Keep both in step.
ALTER TABLE forecast_predictions ADD COLUMN default_clv float8 GENERATED ALWAYS AS (
    1::float8 * expected_avg_value * (
          (cum_purchases[1]  - coalesce(cum_purchases[0], 0))  / power(1 + (power(1 + 0.1::float8, 1.0 / 12) - 1), 1)
        + (cum_purchases[2]  - coalesce(cum_purchases[1], 0))  / power(1 + (power(1 + 0.1::float8, 1.0 / 12) - 1), 2)
        + (cum_purchases[3]  - coalesce(cum_purchases[2], 0))  / power(1 + (power(1 + 0.1::float8, 1.0 / 12) - 1), 3)
        + (cum_purchases[4]  - coalesce(cum_purchases[3], 0))  / power(1 + (power(1 + 0.1::float8, 1.0 / 12) - 1), 4)
        + (cum_purchases[5]  - coalesce(cum_purchases[4], 0))  / power(1 + (power(1 + 0.1::float8, 1.0 / 12) - 1), 5)
        + (cum_purchases[6]  - coalesce(cum_purchases[5], 0))  / power(1 + (power(1 + 0.1::float8, 1.0 / 12) - 1), 6)
        + (cum_purchases[7]  - coalesce(cum_purchases[6], 0))  / power(1 + (power(1 + 0.1::float8, 1.0 / 12) - 1), 7)
        + (cum_purchases[8]  - coalesce(cum_purchases[7], 0))  / power(1 + (power(1 + 0.1::float8, 1.0 / 12) - 1), 8)
        + (cum_purchases[9]  - coalesce(cum_purchases[8], 0))  / power(1 + (power(1 + 0.1::float8, 1.0 / 12) - 1), 9)
        + (cum_purchases[10] - coalesce(cum_purchases[9], 0))  / power(1 + (power(1 + 0.1::float8, 1.0 / 12) - 1), 10)
        + (cum_purchases[11] - coalesce(cum_purchases[10], 0)) / power(1 + (power(1 + 0.1::float8, 1.0 / 12) - 1), 11)
        + (cum_purchases[12] - coalesce(cum_purchases[11], 0)) / power(1 + (power(1 + 0.1::float8, 1.0 / 12) - 1), 12)
    )
) STORED;

CREATE INDEX forecast_predictions_default_clv
    ON forecast_predictions (fit_id, default_clv DESC, customer_id);

-- Per fit, for the tier shares in forecast_settings when it was computed: the
-- predicted customers (n) and, per tier, the largest default_clv that is NOT
-- in that tier or a better one. The general path gives a customer with value v
-- the share c/n, c = customers with a value >= v (cume_dist), and the tier
-- when c/n <= the tier's cumulative share. With K the most customers c for
-- which c/n <= share (in float8, as cume_dist compares), c <= K exactly when v
-- is above the (K+1)-th largest value: that value is the cut ('-Infinity'
-- when K = n, everybody qualifies).
CREATE TABLE forecast_default_tiers (
    fit_id       bigint PRIMARY KEY REFERENCES forecast_fits (id) ON DELETE CASCADE,
    platinum     float8 NOT NULL,
    gold         float8 NOT NULL,
    silver       float8 NOT NULL,
    n            bigint NOT NULL,
    platinum_cut float8 NOT NULL,
    gold_cut     float8 NOT NULL,
    silver_cut   float8 NOT NULL
);

-- The value a customer must exceed to have a cumulative share <= `share`.
CREATE FUNCTION ltv_forecast_cut(fit bigint, n bigint, share float8) RETURNS float8
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

CREATE FUNCTION ltv_forecast_store_tiers(fit bigint) RETURNS void
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

-- New predictions (one COPY per fit) get their cuts in the same transaction.
CREATE FUNCTION ltv_forecast_predictions_tiers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ltv_forecast_store_tiers(f.fit_id) FROM (SELECT DISTINCT fit_id FROM new_rows) f;
  RETURN NULL;
END
$$;
CREATE TRIGGER forecast_predictions_tiers
    AFTER INSERT ON forecast_predictions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ltv_forecast_predictions_tiers();

-- New tier shares (config.yml, written at start-up only when they changed)
-- recompute every fit's cuts.
CREATE FUNCTION ltv_forecast_settings_tiers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ltv_forecast_store_tiers(f.id) FROM forecast_fits f
  WHERE EXISTS (SELECT 1 FROM forecast_predictions p WHERE p.fit_id = f.id);
  RETURN NULL;
END
$$;
CREATE TRIGGER forecast_settings_tiers
    AFTER INSERT OR UPDATE ON forecast_settings
    FOR EACH ROW EXECUTE FUNCTION ltv_forecast_settings_tiers();

-- The fit a request with this as_of reads (the pipe's node `p`): today or
-- later (or none) the latest current fit, a past day its pinned fit.
CREATE FUNCTION ltv_forecast_fit_id(as_of date) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT f.id FROM forecast_fits f
  WHERE CASE WHEN ltv_forecast_fit_id.as_of IS NULL OR ltv_forecast_fit_id.as_of >= ltv_today()
             THEN f.kind = 'current'
             ELSE f.kind = 'pinned' AND f.as_of = ltv_forecast_fit_id.as_of END
  ORDER BY f.id DESC LIMIT 1
$$;

-- The default page may be read from the cuts: they exist for the fit and were
-- computed for the tier shares in force, and the all-time profile answers the
-- fit's as_of (the page reads each customer's attributes and totals from it
-- by key; `ltv_customers` would hash every customer).
CREATE FUNCTION ltv_forecast_default_ready(as_of date) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (
    SELECT 1 FROM forecast_default_tiers d
    JOIN forecast_settings s ON s.id = 1
    JOIN forecast_fits f ON f.id = d.fit_id
    WHERE d.fit_id = ltv_forecast_fit_id(as_of)
      AND (d.platinum, d.gold, d.silver) = (s.platinum, s.gold, s.silver)
      AND ltv_summary_answers(f.as_of))
$$;

-- Fits stored before this migration.
SELECT ltv_forecast_store_tiers(f.id) FROM forecast_fits f
WHERE EXISTS (SELECT 1 FROM forecast_predictions p WHERE p.fit_id = f.id);
