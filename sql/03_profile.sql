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

-- The sort key of each customer_ltv order (as the pipe computes the column,
-- or a key in the same order), written over the row of ltv_customers
-- (alias c), and whether the key runs against the column (tenure_days and
-- days_since_last_purchase fall as the day they count from rises). Every key
-- but historical_clv's has an index on customer_summary with the same
-- expression (migrations 0001, 0002, 0006, 0008), ascending, and ltv one in
-- each direction (`both_ways`), so the page of a current as_of comes off it.
-- Its first signature named the last column descending_index.
DROP FUNCTION IF EXISTS ltv_customer_sort_key(text);
CREATE OR REPLACE FUNCTION ltv_customer_sort_key(sort text, OUT key text, OUT reversed boolean,
                                                 OUT nullable boolean, OUT both_ways boolean)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT k.key, k.reversed, k.nullable, k.both_ways
  FROM (VALUES
      ('ltv', 'round(c.gross - c.refunded, 2)', false, false, true),
      ('gross_revenue', 'round(c.gross, 2)', false, false, false),
      ('total_orders', 'c.purchases', false, false, false),
      ('avg_order_value', 'round(c.gross / nullif(c.purchases, 0), 2)', false, true, false),
      ('refunded_amount', 'round(c.refunded, 2)', false, false, false),
      ('first_purchase_date', 'c.first_purchase_at', false, true, false),
      ('last_purchase_date', 'c.last_purchase_at', false, true, false),
      ('tenure_days', '((c.registration_date AT TIME ZONE ''UTC'')::date)', true, true, false),
      ('days_since_last_purchase', '((c.last_purchase_at AT TIME ZONE ''UTC'')::date)', true, true, false),
      ('registration_date', 'c.registration_date', false, true, false),
      ('customer_id', 'c.customer_id', false, false, false)
  ) k(sort, key, reversed, nullable, both_ways)
  WHERE k.sort = ltv_customer_sort_key.sort
$$;

-- The candidates for one page of customer_ltv: the first n customers of
-- as_of matching the filters (null: no filter) in the order of `sort`
-- (nulls last, then customer_id), or a few more; the pipe sorts them and cuts
-- the page. The one definition of customer_ltv's filters.
--
-- When the profile answers as_of, each key's index gives the order: the
-- customers with a value off the index in the key's direction, the ones
-- without (the index's tail, in customer_id order) after them, n of each at
-- most. historical_clv (ltv times the margin, rounded to cents) has the same
-- order as ltv but ties where ltv does not: the first n by ltv, plus every
-- customer whose historical_clv equals or beats the n-th's, who all lie
-- within a cent over the margin of its ltv (an index range). For an earlier
-- as_of the customers are computed (ltv_customers_past) and sorted.
--
-- Dynamic SQL so that each call is planned with its values (a filter not
-- given folds away, a customer_id becomes a key lookup); the SQL text comes
-- only from ltv_customer_sort_key's fixed strings, every value is a
-- parameter ($1 …).
CREATE OR REPLACE FUNCTION ltv_customer_page(
    as_of date, sort text, descending boolean, n bigint, margin numeric,
    f_customer text, f_start timestamptz, f_end timestamptz, f_country text, f_segment text,
    f_source text, f_active smallint, f_min_ltv numeric)
RETURNS TABLE (customer_id text, known boolean, registration_date timestamptz, country text,
               city text, age integer, gender text, acquisition_source text, segment text,
               is_active smallint, purchases bigint, refunds bigint, gross numeric,
               refunded numeric, first_purchase_at timestamptz, last_purchase_at timestamptz)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    k record;
    by_key_desc boolean;
    matching text;
    key_order text;
    clv constant text := 'round((c.gross - c.refunded) * $10, 2)';
    q text;
BEGIN
    SELECT * INTO k FROM ltv_customer_sort_key(CASE WHEN sort = 'historical_clv' THEN 'ltv' ELSE sort END);
    IF k.key IS NULL THEN
        RAISE EXCEPTION 'ltv_customer_page: unknown sort %', sort;
    END IF;
    IF n <= 0 THEN
        RETURN;
    END IF;
    by_key_desc := descending <> k.reversed;
    matching := format(
        'SELECT c.* FROM %s c WHERE ($2::text IS NULL OR c.customer_id = $2)
           AND ($3::timestamptz IS NULL OR c.registration_date >= $3)
           AND ($4::timestamptz IS NULL OR c.registration_date <= $4)
           AND ($5::text IS NULL OR c.country = $5) AND ($6::text IS NULL OR c.segment = $6)
           AND ($7::text IS NULL OR c.acquisition_source = $7)
           AND ($8::smallint IS NULL OR c.is_active = $8)
           AND ($9::numeric IS NULL OR c.gross - c.refunded >= $9)',
        CASE WHEN ltv_cube_answers(as_of) THEN 'ltv_profile($1)' ELSE 'ltv_customers_past($1)' END);
    -- The order an index runs in: forward (nulls last) or, descending on
    -- an ascending index, backward (nulls first). Rows without a value are
    -- read apart, so the nulls' place here is the index's.
    key_order := format('%s %s, c.customer_id', k.key,
        CASE WHEN NOT by_key_desc THEN 'ASC NULLS LAST'
             WHEN k.both_ways THEN 'DESC NULLS LAST' ELSE 'DESC NULLS FIRST' END);
    q := format('(%s AND %s IS NOT NULL ORDER BY %s LIMIT $11)', matching, k.key, key_order);
    IF k.nullable THEN
        -- Ordered by the key too, so the plan is the index's null tail
        -- (already in customer_id order), not a walk of the primary key.
        q := q || format(' UNION ALL (%s AND %s IS NULL ORDER BY %s, c.customer_id LIMIT $11)',
                         matching, k.key, k.key);
    END IF;
    IF sort = 'historical_clv' AND margin <> 1 THEN
        -- The n-th by ltv sets the bar; everyone at or past it within the
        -- margin's cent is added (UNION: the first n are among them).
        q := format(
            'WITH first_n AS (%1$s),
                  bar AS (SELECT %2$s(round(c.gross - c.refunded, 2)) AS ltv, %2$s(%3$s) AS clv, count(*) AS rows
                          FROM first_n c)
             SELECT * FROM first_n
             UNION
             SELECT m.* FROM bar, LATERAL (%4$s
                   AND round(c.gross - c.refunded, 2) BETWEEN bar.ltv - (0.01 / $10 + 0.01) AND bar.ltv + (0.01 / $10 + 0.01)
                   AND %3$s %5$s bar.clv) m
             WHERE bar.rows = $11',
            q, CASE WHEN by_key_desc THEN 'min' ELSE 'max' END, clv, matching,
            CASE WHEN by_key_desc THEN '>=' ELSE '<=' END);
    END IF;
    RETURN QUERY EXECUTE q
        USING as_of, f_customer, f_start, f_end, f_country, f_segment, f_source, f_active,
              f_min_ltv, margin, n;
END
$$;
