-- The profile (customer_summary): each customer's attributes next to its
-- totals. The attributes are copied by statement-level triggers on
-- `customers`, so every writer (Events API, bulk append, psql) keeps them
-- current in the same transaction as the customers row itself. The functions
-- below give the customers of an as_of: from the profile alone when no
-- transaction is dated after it, else from the daily rollup.

CREATE OR REPLACE FUNCTION ltv_copy_customer_attributes() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    -- Key order: concurrent writers lock summary rows in the same order.
    INSERT INTO customer_summary AS s
        (customer_id, registration_date, country, city, age, gender, acquisition_source, segment, is_active)
    SELECT customer_id, registration_date, country, city, age, gender, acquisition_source, segment, is_active
    FROM changed ORDER BY customer_id
    ON CONFLICT (customer_id) DO UPDATE SET
        registration_date = EXCLUDED.registration_date, country = EXCLUDED.country,
        city = EXCLUDED.city, age = EXCLUDED.age, gender = EXCLUDED.gender,
        acquisition_source = EXCLUDED.acquisition_source, segment = EXCLUDED.segment,
        is_active = EXCLUDED.is_active;
    RETURN NULL;
END
$$;

-- True when the all-time rollups answer as_of exactly: no transaction is dated
-- after it (or none is stored).
CREATE OR REPLACE FUNCTION ltv_summary_answers(as_of date) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT as_of >= coalesce(ltv_max_transaction_day(), '-infinity'::date) $$;

-- The customers of an as_of the profile answers (nothing otherwise): known
-- customers (registered by as_of, with attributes) and transaction-only ones.
-- A plain scan of customer_summary, so the planner can read it in an index's
-- order and stop after a page of rows.
CREATE OR REPLACE FUNCTION ltv_profile(as_of date)
RETURNS TABLE (customer_id text, known boolean, registration_date timestamptz, country text,
               city text, age integer, gender text, acquisition_source text, segment text,
               is_active smallint, purchases bigint, refunds bigint, gross numeric,
               refunded numeric, first_purchase_at timestamptz, last_purchase_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT s.customer_id, coalesce(s.registration_date < ltv_day_end(as_of), false),
         CASE WHEN s.registration_date < ltv_day_end(as_of) THEN s.registration_date END,
         CASE WHEN s.registration_date < ltv_day_end(as_of) THEN s.country END,
         CASE WHEN s.registration_date < ltv_day_end(as_of) THEN s.city END,
         CASE WHEN s.registration_date < ltv_day_end(as_of) THEN s.age END,
         CASE WHEN s.registration_date < ltv_day_end(as_of) THEN s.gender END,
         CASE WHEN s.registration_date < ltv_day_end(as_of) THEN s.acquisition_source END,
         CASE WHEN s.registration_date < ltv_day_end(as_of) THEN s.segment END,
         CASE WHEN s.registration_date < ltv_day_end(as_of) THEN s.is_active END,
         s.purchases, s.refunds, s.gross, s.refunded, s.first_purchase_at, s.last_purchase_at
  FROM customer_summary s
  WHERE ltv_summary_answers(as_of)
    AND (s.registration_date < ltv_day_end(as_of) OR s.purchases + s.refunds > 0)
$$;

-- The customers of an as_of the profile does not answer: customers joined with
-- the daily rollup up to as_of (nothing otherwise).
CREATE OR REPLACE FUNCTION ltv_customers_past(as_of date)
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
  FULL JOIN (SELECT d.customer_id, sum(d.purchases)::bigint AS purchases, sum(d.refunds)::bigint AS refunds,
                    sum(d.gross) AS gross, sum(d.refunded) AS refunded,
                    min(d.first_purchase_at) AS first_purchase_at, max(d.last_purchase_at) AS last_purchase_at
             FROM customer_day_category d
             WHERE d.day <= as_of
             GROUP BY d.customer_id) t ON t.customer_id = c.customer_id
  WHERE NOT ltv_summary_answers(as_of)
$$;

-- Every customer of an as_of: exactly one of the two runs (each
-- one's one-time filter is false for the other).
CREATE OR REPLACE FUNCTION ltv_customers(as_of date)
RETURNS TABLE (customer_id text, known boolean, registration_date timestamptz, country text,
               city text, age integer, gender text, acquisition_source text, segment text,
               is_active smallint, purchases bigint, refunds bigint, gross numeric,
               refunded numeric, first_purchase_at timestamptz, last_purchase_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT * FROM ltv_profile(as_of)
  UNION ALL
  SELECT * FROM ltv_customers_past(as_of)
$$;

-- A trigger with a transition table serves one event; INSERT ... ON CONFLICT
-- DO UPDATE fires both.
DROP TRIGGER IF EXISTS customers_profile_insert ON customers;
CREATE TRIGGER customers_profile_insert AFTER INSERT ON customers
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION ltv_copy_customer_attributes();

DROP TRIGGER IF EXISTS customers_profile_update ON customers;
CREATE TRIGGER customers_profile_update AFTER UPDATE ON customers
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION ltv_copy_customer_attributes();
