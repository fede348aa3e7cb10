-- Rollups that ingestion keeps current in the same transaction as the raw rows
-- (src/ingest/store.rs), so a 2xx means the pipes see the rows. Raw tables stay
-- as they are. See ARCHITECTURE.md ("Rollups") for how the pipes read them.

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

-- Per customer, all time: what an as_of on or after the newest event needs,
-- one row per customer instead of one per event.
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
    satisfaction_n    bigint  NOT NULL DEFAULT 0
);

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

-- The category with most gross purchase revenue ('' = none given; ties to the
-- alphabetically first, '' ranking as 'unknown') and the channel of most
-- interactions, all time; null without purchases / interactions.
ALTER TABLE customer_summary ADD COLUMN top_category text, ADD COLUMN primary_channel text;

-- Pipes compare dates in UTC whatever the server's TimeZone.
CREATE FUNCTION ltv_day_end(as_of date) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (as_of + 1)::timestamp AT TIME ZONE 'UTC' $$;

CREATE FUNCTION ltv_utc_day(ts timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (ts AT TIME ZONE 'UTC')::date $$;

-- Months since year 0 of a date, as customer_day_category.month_idx.
CREATE FUNCTION ltv_month_idx(d date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (extract(year FROM d) * 12 + extract(month FROM d) - 1)::integer $$;

-- Months per period.
CREATE FUNCTION ltv_period_months(period text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE period WHEN 'month' THEN 1 WHEN 'quarter' THEN 3 ELSE 12 END $$;

-- Whole calendar periods from the period of `a` to the period of `b`.
CREATE FUNCTION ltv_period_diff(a date, b date, period text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE period
    WHEN 'month'   THEN (extract(year FROM b)::int - extract(year FROM a)::int) * 12
                        + extract(month FROM b)::int - extract(month FROM a)::int
    WHEN 'quarter' THEN (extract(year FROM b)::int - extract(year FROM a)::int) * 4
                        + extract(quarter FROM b)::int - extract(quarter FROM a)::int
    ELSE extract(year FROM b)::int - extract(year FROM a)::int
  END
$$;

-- The newest transaction / interaction day stored (null when none).
CREATE FUNCTION ltv_max_transaction_day() RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT max(day) FROM customer_day_category $$;

CREATE FUNCTION ltv_max_interaction_day() RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT max(day) FROM interaction_day $$;

-- Per customer with a transaction dated by as_of: purchase and refund totals.
-- When as_of is on or after the newest transaction the summary answers (one
-- row per customer); otherwise the daily rollup up to as_of does. Exactly one
-- branch runs (its one-time filter is false for the other).
CREATE FUNCTION ltv_transaction_totals(as_of date)
RETURNS TABLE (customer_id text, purchases bigint, refunds bigint, gross numeric,
               refunded numeric, first_purchase_at timestamptz, last_purchase_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT s.customer_id, s.purchases, s.refunds, s.gross, s.refunded, s.first_purchase_at, s.last_purchase_at
  FROM customer_summary s
  WHERE s.purchases + s.refunds > 0 AND as_of >= ltv_max_transaction_day()
  UNION ALL
  SELECT d.customer_id, sum(d.purchases)::bigint, sum(d.refunds)::bigint, sum(d.gross), sum(d.refunded),
         min(d.first_purchase_at), max(d.last_purchase_at)
  FROM customer_day_category d
  WHERE d.day <= as_of AND as_of < ltv_max_transaction_day()
  GROUP BY d.customer_id
$$;

-- Per customer with an interaction dated by as_of: interaction totals.
CREATE FUNCTION ltv_interaction_totals(as_of date)
RETURNS TABLE (customer_id text, interactions bigint, support_contacts bigint,
               satisfaction_sum bigint, satisfaction_n bigint)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT s.customer_id, s.interactions, s.support_contacts, s.satisfaction_sum, s.satisfaction_n
  FROM customer_summary s
  WHERE s.interactions > 0 AND as_of >= ltv_max_interaction_day()
  UNION ALL
  SELECT d.customer_id, sum(d.interactions)::bigint, sum(d.support_contacts)::bigint,
         sum(d.satisfaction_sum)::bigint, sum(d.satisfaction_n)::bigint
  FROM interaction_day d
  WHERE d.day <= as_of AND as_of < ltv_max_interaction_day()
  GROUP BY d.customer_id
$$;

-- Every customer of an as_of: known customers (a customers row registered by
-- as_of, with attributes) and transaction-only customers (known = false,
-- attributes null), with their transaction totals (zeros without any).
CREATE FUNCTION ltv_customers(as_of date)
RETURNS TABLE (customer_id text, known boolean, registration_date timestamptz, country text,
               city text, age integer, gender text, acquisition_source text, segment text,
               is_active smallint, purchases bigint, refunds bigint, gross numeric,
               refunded numeric, first_purchase_at timestamptz, last_purchase_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT coalesce(c.customer_id, t.customer_id), c.customer_id IS NOT NULL,
         c.registration_date, c.country, c.city, c.age, c.gender, c.acquisition_source,
         c.segment, c.is_active,
         coalesce(t.purchases, 0), coalesce(t.refunds, 0), coalesce(t.gross, 0),
         coalesce(t.refunded, 0), t.first_purchase_at, t.last_purchase_at
  FROM (SELECT * FROM customers WHERE registration_date < ltv_day_end(as_of)) c
  FULL JOIN ltv_transaction_totals(as_of) t ON t.customer_id = c.customer_id
$$;

-- Bring rows stored before this migration into the rollups.
INSERT INTO customer_day_category
SELECT customer_id, ltv_utc_day(transaction_date), coalesce(product_category, ''),
       count(*) FILTER (WHERE NOT r), count(*) FILTER (WHERE r),
       coalesce(sum(amount) FILTER (WHERE NOT r), 0), coalesce(sum(amount) FILTER (WHERE r), 0),
       min(transaction_date) FILTER (WHERE NOT r), max(transaction_date) FILTER (WHERE NOT r)
FROM (SELECT *, (is_refund = 1 OR coalesce(transaction_type, '') = 'refund') AS r FROM transactions) t
GROUP BY 1, 2, 3;

INSERT INTO interaction_day
SELECT customer_id, ltv_utc_day(interaction_date), coalesce(channel, ''), count(*),
       count(*) FILTER (WHERE interaction_type ILIKE '%support%'),
       coalesce(sum(satisfaction_score), 0), count(satisfaction_score)
FROM customer_interactions
GROUP BY 1, 2, 3;

INSERT INTO customer_summary (customer_id, purchases, refunds, gross, refunded, first_purchase_at, last_purchase_at)
SELECT customer_id, sum(purchases), sum(refunds), sum(gross), sum(refunded), min(first_purchase_at), max(last_purchase_at)
FROM customer_day_category GROUP BY customer_id;

INSERT INTO customer_summary AS s (customer_id, interactions, support_contacts, satisfaction_sum, satisfaction_n)
SELECT customer_id, sum(interactions), sum(support_contacts), sum(satisfaction_sum), sum(satisfaction_n)
FROM interaction_day GROUP BY customer_id
ON CONFLICT (customer_id) DO UPDATE SET
    interactions = EXCLUDED.interactions, support_contacts = EXCLUDED.support_contacts,
    satisfaction_sum = EXCLUDED.satisfaction_sum, satisfaction_n = EXCLUDED.satisfaction_n;

INSERT INTO customer_category_total
SELECT customer_id, category, sum(purchases), sum(gross)
FROM customer_day_category WHERE purchases > 0 GROUP BY 1, 2;

INSERT INTO customer_channel_total
SELECT customer_id, channel, sum(interactions) FROM interaction_day GROUP BY 1, 2;
