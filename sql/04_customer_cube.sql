-- The customer cube: the profile summed by registration month and the
-- attributes pipes filter on. A dashboard's cohort table or portfolio snapshot
-- for the latest data is a sum over a few thousand cube rows instead of a scan
-- of every customer. Kept exact per batch (sql/11_ingest.sql): each batch
-- adds its customers' new profiles and subtracts their old ones.
--
-- Members are the customers of an as_of on or after the newest event: known
-- customers (a registration date) and transaction-only customers (cohort_month
-- 'infinity', attributes '').

-- Maintained by sql/11_ingest.sql since the triggers were removed (no
-- trigger writes to another table): drop them from databases that had them.
DROP TRIGGER IF EXISTS customer_summary_cube_insert ON customer_summary;
DROP TRIGGER IF EXISTS customer_summary_cube_update ON customer_summary;
DROP FUNCTION IF EXISTS ltv_cube_apply();

-- The attribute keys of the group tables (cohort_activity, ltv_histogram,
-- the RFM tables): a member is counted once under every combination of the
-- filter attributes, `kept` saying which it keeps (1 country, 2 segment, 4
-- acquisition_source) and '' standing for the others, so that a call with
-- any filters (none, one, two or all three) reads exactly its own rows, a
-- prefix of the table's key, instead of summing the rows of every
-- combination. The member's attributes come in as the cube stores them ('':
-- none, and all three '' for a transaction-only customer).
CREATE OR REPLACE FUNCTION ltv_kept_masks() RETURNS SETOF smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT generate_series(0, 7)::smallint $$;

CREATE OR REPLACE FUNCTION ltv_attribute_keys(a_country text, a_segment text, a_source text)
RETURNS TABLE (kept smallint, country text, segment text, acquisition_source text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT g.kept, CASE WHEN g.kept & 1 <> 0 THEN a_country ELSE '' END,
         CASE WHEN g.kept & 2 <> 0 THEN a_segment ELSE '' END,
         CASE WHEN g.kept & 4 <> 0 THEN a_source ELSE '' END
  FROM ltv_kept_masks() g(kept)
$$;

-- True for the key of the rows that answer these filters (f_*: null, not
-- filtered; '' matches nobody, as in the general queries, where no stored
-- attribute is blank). Inlined: a plain equality on every key column.
CREATE OR REPLACE FUNCTION ltv_key_matches(kept smallint, country text, segment text, acquisition_source text,
                                           f_country text, f_segment text, f_source text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT kept = (f_country IS NOT NULL)::int + 2 * (f_segment IS NOT NULL)::int + 4 * (f_source IS NOT NULL)::int
     AND country = CASE WHEN f_country IS NULL THEN '' ELSE nullif(f_country, '') END
     AND segment = CASE WHEN f_segment IS NULL THEN '' ELSE nullif(f_segment, '') END
     AND acquisition_source = CASE WHEN f_source IS NULL THEN '' ELSE nullif(f_source, '') END
$$;

-- An attribute as the cubes store it: '' when the customer sent none, and
-- for a transaction-only customer (no registration, so no attributes yet).
CREATE OR REPLACE FUNCTION ltv_cube_attribute(registration_date timestamptz, v text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN registration_date IS NULL THEN '' ELSE coalesce(v, '') END $$;

-- A profile row's cube key and contribution; no row when it is no member.
CREATE OR REPLACE FUNCTION ltv_cube_rows(sign integer, s customer_summary)
RETURNS TABLE (cohort_month date, country text, segment text, acquisition_source text,
               customers bigint, paying bigint, active bigint, purchases bigint,
               refunds bigint, gross numeric, refunded numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN s.registration_date IS NULL THEN 'infinity'::date
              ELSE date_trunc('month', s.registration_date AT TIME ZONE 'UTC')::date END,
         ltv_cube_attribute(s.registration_date, s.country),
         ltv_cube_attribute(s.registration_date, s.segment),
         ltv_cube_attribute(s.registration_date, s.acquisition_source),
         sign::bigint, sign * (s.purchases > 0)::int::bigint,
         sign * (s.registration_date IS NOT NULL AND s.is_active = 1)::int::bigint,
         sign * s.purchases, sign * s.refunds, sign * s.gross, sign * s.refunded
  WHERE s.registration_date IS NOT NULL OR s.purchases + s.refunds > 0
$$;

-- The number of stored transactions (every one is a purchase or a refund of
-- some profile, and every profile with one is a cube member): what
-- count(*) FROM transactions says, from a few thousand cube rows instead of
-- millions of table rows. The forecast refresher polls it.
CREATE OR REPLACE FUNCTION ltv_transaction_count() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(sum(purchases + refunds), 0)::bigint FROM customer_cube $$;

-- A batch's profiles, before (`old`) and after (`new`) -> the cube's delta.
-- Profiles whose contribution did not change cancel out and touch nothing.
CREATE OR REPLACE FUNCTION ltv_cube_apply(old customer_summary[], new customer_summary[]) RETURNS void
LANGUAGE sql
AS $$
  INSERT INTO customer_cube AS c
  SELECT cohort_month, country, segment, acquisition_source, sum(customers), sum(paying),
         sum(active), sum(purchases), sum(refunds), sum(gross), sum(refunded)
  FROM (SELECT d.* FROM unnest(new) n, ltv_cube_rows(1, n) d
        UNION ALL SELECT d.* FROM unnest(old) o, ltv_cube_rows(-1, o) d) x
  GROUP BY 1, 2, 3, 4
  HAVING sum(customers) <> 0 OR sum(paying) <> 0 OR sum(active) <> 0 OR sum(purchases) <> 0
      OR sum(refunds) <> 0 OR sum(gross) <> 0 OR sum(refunded) <> 0
  ON CONFLICT (cohort_month, country, segment, acquisition_source) DO UPDATE SET
      customers = c.customers + EXCLUDED.customers, paying = c.paying + EXCLUDED.paying,
      active = c.active + EXCLUDED.active, purchases = c.purchases + EXCLUDED.purchases,
      refunds = c.refunds + EXCLUDED.refunds, gross = c.gross + EXCLUDED.gross,
      refunded = c.refunded + EXCLUDED.refunded
$$;
