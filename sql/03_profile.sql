-- The profile (customer_summary): each customer's attributes next to its
-- totals, kept by sql/11_ingest.sql in the transaction that writes the
-- customers row (or rebuilt from the raw tables: `ltv-pipes rollups refresh`).
-- The functions
-- below give the customers of an as_of: from the profile alone when no
-- transaction is dated after it, else from the daily rollup.

-- Maintained by sql/11_ingest.sql since the triggers were removed (no
-- trigger writes to another table): drop them from databases that had them.
DROP TRIGGER IF EXISTS customers_profile_insert ON customers;
DROP TRIGGER IF EXISTS customers_profile_update ON customers;
DROP FUNCTION IF EXISTS ltv_copy_customer_attributes();

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
