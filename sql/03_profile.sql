-- The profile (customer_summary): each customer's attributes next to its
-- totals, kept by sql/11_ingest.sql in the transaction that writes the
-- customers row (or rebuilt from the raw tables: `ltv-pipes rollups refresh`).
-- The functions
-- below give the customers of an as_of: from the profile alone when no
-- transaction is dated after it and nobody registered after it, else from
-- the daily rollup.

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

-- True when nobody registered after as_of (every stored customers row is a
-- known customer as of it, with its attributes): one index probe.
CREATE OR REPLACE FUNCTION ltv_all_registered_by(as_of date) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce((SELECT max(registration_date) FROM customers) < ltv_day_end(as_of), true) $$;

-- True when customer_summary (and every cube summed from it) answers as_of:
-- no transaction is dated after it and nobody registered after it.
CREATE OR REPLACE FUNCTION ltv_cube_answers(as_of date) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT ltv_summary_answers(as_of) AND ltv_all_registered_by(as_of) $$;

-- The customers of an as_of the cube answers (nothing otherwise: see
-- ltv_cube_answers; no transaction dated after as_of and nobody registered
-- after it): known customers (with a registration) and transaction-only ones,
-- straight from customer_summary. The attributes are the table's own columns,
-- not expressions, so the planner estimates a filter on them from the
-- table's statistics and can read the page in an index's order.
CREATE OR REPLACE FUNCTION ltv_profile(as_of date)
RETURNS TABLE (customer_id text, known boolean, registration_date timestamptz, country text,
               city text, age integer, gender text, acquisition_source text, segment text,
               is_active smallint, purchases bigint, refunds bigint, gross numeric,
               refunded numeric, first_purchase_at timestamptz, last_purchase_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT s.customer_id, s.registration_date IS NOT NULL, s.registration_date, s.country, s.city,
         s.age, s.gender, s.acquisition_source, s.segment, s.is_active,
         s.purchases, s.refunds, s.gross, s.refunded, s.first_purchase_at, s.last_purchase_at
  FROM customer_summary s
  WHERE ltv_cube_answers(as_of)
    AND (s.registration_date IS NOT NULL OR s.purchases + s.refunds > 0)
$$;

-- The customers of any other as_of: customers registered by it joined with
-- the daily rollup up to it (nothing when ltv_profile answers).
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
  WHERE NOT ltv_cube_answers(as_of)
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

-- Replaced by ltv_registered_at_edges (sql/05_retention.sql): the cubes now
-- answer a registration window's whole months for any as_of.
DROP FUNCTION IF EXISTS ltv_customers_outside(date, timestamptz, timestamptz, integer);
