-- The served BG/NBD + Gamma-Gamma forecast (src/forecasting/): its inputs, the
-- stored fits, the per-customer predictions stored after each fit, and the
-- holdout validation. ltv_forecast*.pipe read these tables.

-- Per customer with a purchase day up to as_of (METRICS.md "Forecast", daily
-- periods): frequency = distinct purchase days - 1, recency = last - first
-- purchase day, t = as_of - first purchase day, monetary_value = mean net
-- amount (gross - refunded over the day's categories) of the repeat purchase
-- days (all but the first), 0 when frequency = 0.
CREATE FUNCTION ltv_forecast_inputs(as_of date)
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

-- One row per fit. kind 'current': the latest data (as_of = the day it was
-- fitted), refit in the background; kind 'pinned': an explicit past as_of,
-- fitted once and kept.
CREATE TABLE forecast_fits (
    id                bigserial   PRIMARY KEY,
    kind              text        NOT NULL CHECK (kind IN ('current', 'pinned')),
    as_of             date        NOT NULL,
    fitted_at         timestamptz NOT NULL DEFAULT now(),
    data_min_day      date,
    data_max_day      date,
    -- count(*) of transactions when fitted: the background refit compares it.
    transactions      bigint      NOT NULL,
    bgnbd             jsonb       NOT NULL,
    gamma_gamma       jsonb       NOT NULL,
    log_likelihood    float8      NOT NULL,
    gg_log_likelihood float8      NOT NULL,
    n_customers       bigint      NOT NULL,
    n_unique          bigint      NOT NULL,
    n_spend_customers bigint      NOT NULL,
    converged         boolean     NOT NULL,
    iterations        integer     NOT NULL,
    message           text        NOT NULL,
    fit_ms            bigint      NOT NULL
);
CREATE UNIQUE INDEX forecast_fits_pinned ON forecast_fits (as_of) WHERE kind = 'pinned';
CREATE INDEX forecast_fits_kind ON forecast_fits (kind, id);

-- Per customer of a fit: inputs and predictions. cum_purchases[m] = expected
-- purchases in the first m months (m = 1..36, 30.4375 days each).
CREATE TABLE forecast_predictions (
    fit_id             bigint   NOT NULL REFERENCES forecast_fits (id) ON DELETE CASCADE,
    customer_id        text     NOT NULL,
    frequency          integer  NOT NULL,
    recency            integer  NOT NULL,
    t                  integer  NOT NULL,
    monetary_value     float8   NOT NULL,
    p_alive            float8   NOT NULL,
    expected_avg_value float8   NOT NULL,
    cum_purchases      float8[] NOT NULL,
    PRIMARY KEY (fit_id, customer_id)
);

-- Settings the pipes need from config.yml (forecast.tiers), written at start-up.
CREATE TABLE forecast_settings (
    id       integer PRIMARY KEY CHECK (id = 1),
    platinum float8  NOT NULL,
    gold     float8  NOT NULL,
    silver   float8  NOT NULL
);
INSERT INTO forecast_settings VALUES (1, 0.05, 0.15, 0.30);

-- Holdout validation, per calibration frequency bucket ('0'..'6', '7+').
CREATE TABLE forecast_validation (
    calibration_end date    NOT NULL,
    holdout_end     date    NOT NULL,
    fit_id          bigint  NOT NULL REFERENCES forecast_fits (id) ON DELETE CASCADE,
    bucket_order    integer NOT NULL,
    bucket          text    NOT NULL,
    customers       bigint  NOT NULL,
    predicted_sum   float8  NOT NULL,
    actual_sum      float8  NOT NULL,
    PRIMARY KEY (calibration_end, holdout_end, bucket_order)
);
