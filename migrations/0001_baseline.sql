-- The schema: every table and index. Functions and triggers are not here:
-- their current definitions live in sql/ (one file per component), applied at
-- start whenever a file changed (src/db/components.rs). This file is the
-- squashed history of the unreleased versions; from here on migrations are
-- append-only (migrations/README.md).
--
-- Timestamps are timestamptz (stored UTC); money is numeric (exact, never
-- float); Tinybird's UInt8 flags are smallint 0/1 so they read back as the
-- numbers clients sent. Every table is keyed by customer_id (so it can be
-- distributed by it) or is a small group-level table.

------------------------------------------------------------------------------
-- The three datasources, with exactly Tinybird's fields: the source of truth.
------------------------------------------------------------------------------

CREATE TABLE customers (
    customer_id        text        PRIMARY KEY,
    registration_date  timestamptz NOT NULL,
    country            text,
    city               text,
    age                integer     CHECK (age BETWEEN 0 AND 150),
    gender             text,
    acquisition_source text,
    segment            text,
    is_active          smallint    NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    -- When the latest version of this customer was received ("latest received wins").
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- The newest registration: the cube's members are an as_of's customers only
-- when nobody registered after it.
CREATE INDEX customers_registration_date ON customers (registration_date);

-- A repeated transaction_id is stored once (the first one received), so retries are safe.
CREATE TABLE transactions (
    transaction_id   text        PRIMARY KEY,
    customer_id      text        NOT NULL,
    transaction_date timestamptz NOT NULL,
    amount           numeric     NOT NULL CHECK (amount >= 0),
    product_category text,
    transaction_type text,
    payment_method   text,
    is_refund        smallint    NOT NULL DEFAULT 0 CHECK (is_refund IN (0, 1)),
    received_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transactions_customer_date ON transactions (customer_id, transaction_date);
-- The RFM window scans raw transactions only on its first and last day.
CREATE INDEX transactions_date ON transactions (transaction_date);

CREATE TABLE customer_interactions (
    interaction_id     text        PRIMARY KEY,
    customer_id        text        NOT NULL,
    interaction_date   timestamptz NOT NULL,
    interaction_type   text,
    channel            text,
    duration_seconds   integer     CHECK (duration_seconds >= 0),
    satisfaction_score smallint    CHECK (satisfaction_score BETWEEN 1 AND 5),
    received_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_interactions_customer_date ON customer_interactions (customer_id, interaction_date);

-- Rows that failed validation, per datasource, with the line as received and why.
CREATE TABLE quarantine (
    datasource  text        NOT NULL,
    id          bigserial,
    received_at timestamptz NOT NULL DEFAULT now(),
    error       text        NOT NULL,
    raw         text        NOT NULL,
    PRIMARY KEY (datasource, id)
);

------------------------------------------------------------------------------
-- Service state.
------------------------------------------------------------------------------

-- API tokens. Only a SHA-256 of the token is kept: tokens are 256-bit random, so a
-- fast hash is enough and a database leak does not leak usable tokens.
CREATE TABLE tokens (
    id          bigserial   PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    token_hash  bytea       NOT NULL UNIQUE,
    scopes      text[]      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);

-- Data versions: one counter per kind of data a pipe answer can read. Every
-- writer bumps the counter of what it changed in the same transaction as the
-- change (src/ingest/versions.rs) and NOTIFYs `ltv_data_changed` with
-- '<source>:<version>' (delivered at COMMIT), so every server knows, without a
-- query, whether a cached answer or a client's ETag is still current.
-- Counters start at a random number so that two databases (say, one dropped
-- and created again) never give the same ETag to different data.
CREATE TABLE data_versions (
    source  text PRIMARY KEY,
    version bigint NOT NULL
);
INSERT INTO data_versions (source, version)
SELECT s, floor(random() * 4503599627370496)::bigint
FROM unnest(ARRAY['customers', 'transactions', 'customer_interactions', 'quarantine', 'forecast']) AS s;

------------------------------------------------------------------------------
-- Derived state: rollups and cubes computed from the datasources (their
-- maintenance is in sql/; `ltv-pipes rollups verify` recomputes each one).
------------------------------------------------------------------------------

-- Per customer, UTC day and product category ('' for none): the finest rollup.
-- Answers any as_of exactly (day <= as_of) and the per-period questions.
CREATE TABLE customer_day_category (
    customer_id       text        NOT NULL,
    day               date        NOT NULL,
    category          text        NOT NULL,
    purchases         bigint      NOT NULL,
    refunds           bigint      NOT NULL,
    gross             numeric     NOT NULL,
    refunded          numeric     NOT NULL,
    -- Earliest and latest purchase timestamps of the day (null: no purchase).
    first_purchase_at timestamptz,
    last_purchase_at  timestamptz,
    -- Months since year 0 (year * 12 + month - 1): periods by integer arithmetic.
    month_idx         integer     GENERATED ALWAYS AS
                      ((extract(year FROM day) * 12 + extract(month FROM day) - 1)::integer) STORED,
    PRIMARY KEY (customer_id, day, category)
);
-- max(day) is the freshness watermark: one index probe.
CREATE INDEX customer_day_category_day ON customer_day_category (day);

-- Per customer, UTC day and channel ('' for none): interactions.
CREATE TABLE interaction_day (
    customer_id      text   NOT NULL,
    day              date   NOT NULL,
    channel          text   NOT NULL,
    interactions     bigint NOT NULL,
    support_contacts bigint NOT NULL,
    satisfaction_sum bigint NOT NULL,
    satisfaction_n   bigint NOT NULL,
    PRIMARY KEY (customer_id, day, channel)
);
CREATE INDEX interaction_day_day ON interaction_day (day);

-- The profile: one row per customer (known, or seen only in transactions or
-- interactions) with its attributes and all-time totals, so an as_of on or
-- after the newest event reads one table and the top customers by LTV come
-- straight off an index.
CREATE TABLE customer_summary (
    customer_id       text    PRIMARY KEY,
    purchases         bigint  NOT NULL DEFAULT 0,
    refunds           bigint  NOT NULL DEFAULT 0,
    gross             numeric NOT NULL DEFAULT 0,
    refunded          numeric NOT NULL DEFAULT 0,
    first_purchase_at timestamptz,
    last_purchase_at  timestamptz,
    interactions      bigint  NOT NULL DEFAULT 0,
    support_contacts  bigint  NOT NULL DEFAULT 0,
    satisfaction_sum  bigint  NOT NULL DEFAULT 0,
    satisfaction_n    bigint  NOT NULL DEFAULT 0,
    -- The category with most gross purchase revenue ('' = none given; ties to the
    -- alphabetically first, '' ranking as 'unknown') and the channel of most
    -- interactions, all time; null without purchases / interactions.
    top_category      text,
    primary_channel   text,
    -- The customer's attributes, copied from `customers` (null: no customers
    -- row), so the profile answers every attribute filter without a join.
    registration_date  timestamptz,
    country            text,
    city               text,
    age                integer,
    gender             text,
    acquisition_source text,
    segment            text,
    is_active          smallint
);
-- The default order of customer_ltv: its ltv column (rounded to cents) DESC
-- NULLS LAST, then customer_id; the top customers come straight off it.
CREATE INDEX customer_summary_ltv ON customer_summary (round(gross - refunded, 2) DESC NULLS LAST, customer_id);

-- All-time purchases per customer and category, and interactions per customer
-- and channel: what keeps customer_summary.top_category / primary_channel exact.
CREATE TABLE customer_category_total (
    customer_id text    NOT NULL,
    category    text    NOT NULL,
    purchases   bigint  NOT NULL,
    gross       numeric NOT NULL,
    PRIMARY KEY (customer_id, category)
);

CREATE TABLE customer_channel_total (
    customer_id  text   NOT NULL,
    channel      text   NOT NULL,
    interactions bigint NOT NULL,
    PRIMARY KEY (customer_id, channel)
);

-- The customer cube (sql/04_customer_cube.sql): profiles summed by
-- registration month and the attributes pipes filter on. Null attributes are
-- stored as '' (ingestion never stores a blank text, so '' means "none");
-- transaction-only customers have cohort_month 'infinity'.
CREATE TABLE customer_cube (
    cohort_month       date    NOT NULL,
    country            text    NOT NULL,
    segment            text    NOT NULL,
    acquisition_source text    NOT NULL,
    customers          bigint  NOT NULL,
    paying             bigint  NOT NULL,
    active             bigint  NOT NULL,
    purchases          bigint  NOT NULL,
    refunds            bigint  NOT NULL,
    gross              numeric NOT NULL,
    refunded           numeric NOT NULL,
    PRIMARY KEY (cohort_month, country, segment, acquisition_source)
);

-- The retention cube (sql/05_retention.sql): per customer and period, then per
-- registration cohort, attributes and period.
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

-- The LTV bucket of a value, for the histograms (sql/06_ltv_histogram.sql):
-- monotone in ltv, 0 for exactly 0, then 256 buckets per factor e of |ltv|
-- (about 0.4% wide: at 1M customers a busy bucket holds ~2,000), negative for
-- negative LTV. Here, not in sql/, because an index is built on it: changing
-- it needs a migration that rebuilds that index and every histogram.
CREATE FUNCTION ltv_bucket(ltv numeric) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN ltv = 0 THEN 0
              ELSE sign(ltv)::int * (1 + floor(greatest(ln(abs(ltv)) + 10, 0) * 256)::int) END
$$;

-- The LTV histogram: customers and LTV per bucket, by the filter attributes.
CREATE TABLE ltv_histogram (
    -- 0: by country, segment and acquisition_source; 1: all customers ('').
    grain              smallint NOT NULL,
    country            text     NOT NULL,
    segment            text     NOT NULL,
    acquisition_source text     NOT NULL,
    bucket             integer  NOT NULL,
    customers          bigint   NOT NULL,
    ltv                numeric  NOT NULL,
    PRIMARY KEY (grain, country, segment, acquisition_source, bucket)
);
-- One bucket's customers in LTV order.
CREATE INDEX customer_summary_ltv_bucket
    ON customer_summary (ltv_bucket(gross - refunded), (gross - refunded));

-- RFM (sql/07_rfm.sql): purchasers by (UTC day of the last purchase,
-- purchases), by LTV bucket, by day and by purchases.
CREATE TABLE rfm_cube (
    last_day  date    NOT NULL,
    purchases bigint  NOT NULL,
    customers bigint  NOT NULL,
    monetary  numeric NOT NULL,  -- sum of gross - refunded
    PRIMARY KEY (last_day, purchases)
);

CREATE TABLE rfm_monetary (
    bucket    integer PRIMARY KEY,  -- ltv_bucket(gross - refunded)
    customers bigint  NOT NULL
);

CREATE TABLE rfm_days (
    last_day  date   PRIMARY KEY,
    customers bigint NOT NULL
);

CREATE TABLE rfm_purchases (
    purchases bigint PRIMARY KEY,
    customers bigint NOT NULL
);

-- Influencing factors (sql/08_factors.sql): per factor value, per factor value
-- and LTV bucket, and the sums Pearson's r needs per metric.
CREATE TABLE factor_cube (
    factor           smallint NOT NULL,
    value            text     NOT NULL,
    customers        bigint   NOT NULL,
    ltv              numeric  NOT NULL,
    purchases        bigint   NOT NULL,
    gross            numeric  NOT NULL,
    interactions     bigint   NOT NULL,
    satisfaction_sum bigint   NOT NULL,
    satisfaction_n   bigint   NOT NULL,
    PRIMARY KEY (factor, value)
);

CREATE TABLE factor_histogram (
    factor    smallint NOT NULL,
    value     text     NOT NULL,
    bucket    integer  NOT NULL,  -- ltv_bucket(gross - refunded)
    customers bigint   NOT NULL,
    PRIMARY KEY (factor, value, bucket)
);

CREATE TABLE factor_correlation (
    metric smallint PRIMARY KEY,
    n      bigint   NOT NULL,
    sx     numeric  NOT NULL,
    sy     numeric  NOT NULL,
    sxx    numeric  NOT NULL,
    syy    numeric  NOT NULL,
    sxy    numeric  NOT NULL
);

------------------------------------------------------------------------------
-- The served forecast (src/forecasting/, sql/09_forecast.sql).
------------------------------------------------------------------------------

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
    -- The predicted CLV for the default parameters (horizon 12, margin 1,
    -- discount rate 0.10): the pipe's general formula (ltv_forecast.pipe, node
    -- `scored`) written out term by term in the order sum() adds them, so the
    -- value is the same float8 the general path computes
    -- (tests/api/fast_paths.rs compares the two answers). Keep both in step.
    default_clv        float8   GENERATED ALWAYS AS (
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
    ) STORED,
    PRIMARY KEY (fit_id, customer_id)
);
CREATE INDEX forecast_predictions_default_clv
    ON forecast_predictions (fit_id, default_clv DESC, customer_id);

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

------------------------------------------------------------------------------
-- The sql/ components applied (src/db/components.rs): one row per file, with
-- the SHA-256 of the text applied, so a start re-applies only what changed.
------------------------------------------------------------------------------
CREATE TABLE sql_components (
    name       text        PRIMARY KEY,
    checksum   bytea       NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
