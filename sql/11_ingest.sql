-- Writing a batch: the raw rows, then every derived table. This is the one
-- place the derived state is kept incrementally; no trigger writes anywhere.
--
-- The rule (README "Writes", ARCHITECTURE.md): a write commits its raw rows
-- and their keys in `pending_apply` in one transaction and is acknowledged;
-- the maintainer (src/ingest/maintainer.rs, one pass at a time across every
-- server) calls ltv_apply_pending, which claims a batch of keys, applies
-- their rows to the derived state and deletes the keys in one transaction:
-- each raw row is applied exactly once, many requests' rows share one pass
-- (group commit), and a crash leaves the keys to the next pass. psql writers
-- may insert the keys themselves, call ltv_write_<x> (raw rows and derived
-- state in their own transaction), or write raw rows and run `ltv-pipes
-- rollups refresh`, which recomputes every derived table (src/rollups/).
--
-- Applying rows (ltv_apply_<x>):
--   1. only rows really written are applied (a repeated transaction or
--      interaction id is a no-op, a customer identical to the stored one is
--      left alone), so a retried batch changes nothing;
--   2. the batch's customers' profiles are created if missing and locked, in
--      key order, and read: the state before (`old`);
--   3. the per-customer rollups and the profiles are updated; read again:
--      the state after (`new`);
--   4. every group-level table gets new minus old.
-- Every application holds the maintainer's lock (ltv_lock_maintainer) until
-- its commit, whoever calls it (the maintainer's pass, a recomputation, a
-- psql writer's ltv_write_<x>): batches apply one at a time, so a batch's
-- `old` is the state every earlier batch left, and the group tables need no
-- lock order (their deltas are aggregated by hash, not sorted by key).

-- Step 2: takes the maintainer's lock, creates an empty profile (which counts
-- for nothing anywhere) for each id that has none, locks all of them in key
-- order, and returns them.
CREATE OR REPLACE FUNCTION ltv_lock_profiles(ids text[]) RETURNS customer_summary[]
LANGUAGE plpgsql
AS $$
DECLARE
    old customer_summary[];
BEGIN
    PERFORM ltv_lock_maintainer();
    INSERT INTO customer_summary (customer_id)
    SELECT DISTINCT i FROM unnest(ids) i ORDER BY 1
    ON CONFLICT (customer_id) DO NOTHING;
    SELECT array_agg(x.s ORDER BY (x.s).customer_id) INTO old
    FROM (SELECT s FROM customer_summary s WHERE s.customer_id = ANY (ids)
          ORDER BY s.customer_id FOR UPDATE) x;
    RETURN coalesce(old, '{}');
END
$$;

CREATE OR REPLACE FUNCTION ltv_profiles_of(ids text[]) RETURNS customer_summary[]
LANGUAGE sql STABLE
AS $$
  SELECT coalesce(array_agg(s ORDER BY s.customer_id), '{}')
  FROM customer_summary s WHERE s.customer_id = ANY (ids)
$$;

-- Step 4 for everything kept from the profiles.
CREATE OR REPLACE FUNCTION ltv_apply_profiles(old customer_summary[], new customer_summary[]) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM ltv_cube_apply(old, new);
    PERFORM ltv_first_buyers_apply(old, new);
    PERFORM ltv_histogram_apply(old, new);
    PERFORM ltv_rfm_apply(old, new);
    PERFORM ltv_factor_apply(old, new);
END
$$;

-- Customers, raw: latest received wins (the caller passes the last row per
-- id). Returns the rows inserted or changed.
CREATE OR REPLACE FUNCTION ltv_insert_customers(
    p_customer_id text[], p_registration_date timestamptz[], p_country text[], p_city text[],
    p_age int4[], p_gender text[], p_acquisition_source text[], p_segment text[], p_is_active int2[])
RETURNS customers[]
LANGUAGE sql
AS $$
  WITH up AS (
      INSERT INTO customers AS c (customer_id, registration_date, country, city, age, gender,
                                  acquisition_source, segment, is_active)
      SELECT * FROM unnest(p_customer_id, p_registration_date, p_country, p_city, p_age, p_gender,
                           p_acquisition_source, p_segment, p_is_active) ORDER BY 1
      ON CONFLICT (customer_id) DO UPDATE SET
          registration_date = EXCLUDED.registration_date, country = EXCLUDED.country,
          city = EXCLUDED.city, age = EXCLUDED.age, gender = EXCLUDED.gender,
          acquisition_source = EXCLUDED.acquisition_source, segment = EXCLUDED.segment,
          is_active = EXCLUDED.is_active, updated_at = now()
      -- A row identical to the stored one is left alone: a repeated batch changes nothing.
      WHERE (c.registration_date, c.country, c.city, c.age, c.gender, c.acquisition_source, c.segment, c.is_active)
            IS DISTINCT FROM
            (EXCLUDED.registration_date, EXCLUDED.country, EXCLUDED.city, EXCLUDED.age, EXCLUDED.gender,
             EXCLUDED.acquisition_source, EXCLUDED.segment, EXCLUDED.is_active)
      RETURNING c.*
  )
  SELECT coalesce(array_agg(ROW(up.*)::customers ORDER BY up.customer_id), '{}') FROM up
$$;

-- Steps 2-4 for customers rows already written: each customer's attributes
-- into its profile, its periods moved when its cohort or attributes changed,
-- and the group tables. Returns how many customers.
CREATE OR REPLACE FUNCTION ltv_apply_customers(written customers[]) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    ids text[] := ARRAY(SELECT DISTINCT w.customer_id FROM unnest(written) w ORDER BY 1);
    old customer_summary[];
    new customer_summary[];
BEGIN
    IF cardinality(ids) = 0 THEN
        RETURN 0;
    END IF;
    old := ltv_lock_profiles(ids);
    UPDATE customer_summary s SET
        registration_date = w.registration_date, country = w.country, city = w.city, age = w.age,
        gender = w.gender, acquisition_source = w.acquisition_source, segment = w.segment,
        is_active = w.is_active
    FROM unnest(written) w
    WHERE s.customer_id = w.customer_id;
    new := ltv_profiles_of(ids);
    PERFORM ltv_activity_rekey(old, new);
    PERFORM ltv_apply_profiles(old, new);
    RETURN cardinality(ids);
END
$$;

CREATE OR REPLACE FUNCTION ltv_write_customers(
    p_customer_id text[], p_registration_date timestamptz[], p_country text[], p_city text[],
    p_age int4[], p_gender text[], p_acquisition_source text[], p_segment text[], p_is_active int2[])
RETURNS bigint
LANGUAGE sql
AS $$
  SELECT ltv_apply_customers(ltv_insert_customers(p_customer_id, p_registration_date, p_country, p_city,
                                                  p_age, p_gender, p_acquisition_source, p_segment, p_is_active))
$$;

-- Transactions, raw: a repeated transaction_id keeps the first version
-- stored. Returns the rows really inserted.
CREATE OR REPLACE FUNCTION ltv_insert_transactions(
    p_transaction_id text[], p_customer_id text[], p_transaction_date timestamptz[], p_amount numeric[],
    p_product_category text[], p_transaction_type text[], p_payment_method text[], p_is_refund int2[])
RETURNS transactions[]
LANGUAGE sql
AS $$
  WITH ins AS (
      INSERT INTO transactions (transaction_id, customer_id, transaction_date, amount, product_category,
                                transaction_type, payment_method, is_refund)
      SELECT * FROM unnest(p_transaction_id, p_customer_id, p_transaction_date, p_amount,
                           p_product_category, p_transaction_type, p_payment_method, p_is_refund)
      ON CONFLICT (transaction_id) DO NOTHING
      RETURNING *
  )
  SELECT coalesce(array_agg(ROW(ins.*)::transactions), '{}') FROM ins
$$;

-- Steps 2-4 for transactions already written (each exactly once). Returns
-- how many.
CREATE OR REPLACE FUNCTION ltv_apply_transactions(written transactions[]) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    ids text[];
    old customer_summary[];
    new customer_summary[];
BEGIN
    IF cardinality(written) = 0 THEN
        RETURN 0;
    END IF;
    SELECT array_agg(DISTINCT w.customer_id ORDER BY w.customer_id) INTO ids FROM unnest(written) w;
    old := ltv_lock_profiles(ids);
    -- Per customer, UTC day and category; per customer and category; per customer.
    WITH t AS (
        SELECT customer_id, ltv_utc_day(transaction_date) AS day, coalesce(product_category, '') AS category,
               (is_refund = 1 OR coalesce(transaction_type, '') = 'refund') AS r, amount, transaction_date
        FROM unnest(written)
    ), daily AS (
        INSERT INTO customer_day_category AS d
        SELECT customer_id, day, category,
               count(*) FILTER (WHERE NOT r), count(*) FILTER (WHERE r),
               coalesce(sum(amount) FILTER (WHERE NOT r), 0), coalesce(sum(amount) FILTER (WHERE r), 0),
               min(transaction_date) FILTER (WHERE NOT r), max(transaction_date) FILTER (WHERE NOT r)
        FROM t GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (customer_id, day, category) DO UPDATE SET
          purchases = d.purchases + EXCLUDED.purchases, refunds = d.refunds + EXCLUDED.refunds,
          gross = d.gross + EXCLUDED.gross, refunded = d.refunded + EXCLUDED.refunded,
          first_purchase_at = LEAST(d.first_purchase_at, EXCLUDED.first_purchase_at),
          last_purchase_at = GREATEST(d.last_purchase_at, EXCLUDED.last_purchase_at)
    ), categories AS (
        INSERT INTO customer_category_total AS c
        SELECT customer_id, category, count(*), sum(amount)
        FROM t WHERE NOT r GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (customer_id, category) DO UPDATE SET
          purchases = c.purchases + EXCLUDED.purchases, gross = c.gross + EXCLUDED.gross
    )
    UPDATE customer_summary s SET
        purchases = s.purchases + x.purchases, refunds = s.refunds + x.refunds,
        gross = s.gross + x.gross, refunded = s.refunded + x.refunded,
        first_purchase_at = LEAST(s.first_purchase_at, x.first_purchase_at),
        last_purchase_at = GREATEST(s.last_purchase_at, x.last_purchase_at)
    FROM (SELECT customer_id, count(*) FILTER (WHERE NOT r) AS purchases, count(*) FILTER (WHERE r) AS refunds,
                 coalesce(sum(amount) FILTER (WHERE NOT r), 0) AS gross,
                 coalesce(sum(amount) FILTER (WHERE r), 0) AS refunded,
                 min(transaction_date) FILTER (WHERE NOT r) AS first_purchase_at,
                 max(transaction_date) FILTER (WHERE NOT r) AS last_purchase_at
          FROM t GROUP BY 1) x
    WHERE s.customer_id = x.customer_id;
    -- A separate statement: it must see the totals written above.
    PERFORM ltv_refresh_top_category(ids);
    new := ltv_profiles_of(ids);
    -- An earlier first purchase moves the customer's stored periods to its
    -- new first-purchase cohort, before the batch's own periods are added.
    PERFORM ltv_activity_rekey(old, new);
    PERFORM ltv_period_apply(written, new);
    PERFORM ltv_apply_profiles(old, new);
    RETURN cardinality(written);
END
$$;

CREATE OR REPLACE FUNCTION ltv_write_transactions(
    p_transaction_id text[], p_customer_id text[], p_transaction_date timestamptz[], p_amount numeric[],
    p_product_category text[], p_transaction_type text[], p_payment_method text[], p_is_refund int2[])
RETURNS bigint
LANGUAGE sql
AS $$
  SELECT ltv_apply_transactions(ltv_insert_transactions(p_transaction_id, p_customer_id, p_transaction_date,
                                                        p_amount, p_product_category, p_transaction_type,
                                                        p_payment_method, p_is_refund))
$$;

-- Interactions, raw: a repeated interaction_id keeps the first version stored.
CREATE OR REPLACE FUNCTION ltv_insert_interactions(
    p_interaction_id text[], p_customer_id text[], p_interaction_date timestamptz[], p_interaction_type text[],
    p_channel text[], p_duration_seconds int4[], p_satisfaction_score int2[])
RETURNS customer_interactions[]
LANGUAGE sql
AS $$
  WITH ins AS (
      INSERT INTO customer_interactions (interaction_id, customer_id, interaction_date, interaction_type,
                                         channel, duration_seconds, satisfaction_score)
      SELECT * FROM unnest(p_interaction_id, p_customer_id, p_interaction_date, p_interaction_type,
                           p_channel, p_duration_seconds, p_satisfaction_score)
      ON CONFLICT (interaction_id) DO NOTHING
      RETURNING *
  )
  SELECT coalesce(array_agg(ROW(ins.*)::customer_interactions), '{}') FROM ins
$$;

CREATE OR REPLACE FUNCTION ltv_apply_interactions(written customer_interactions[]) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    ids text[];
    old customer_summary[];
BEGIN
    IF cardinality(written) = 0 THEN
        RETURN 0;
    END IF;
    SELECT array_agg(DISTINCT w.customer_id ORDER BY w.customer_id) INTO ids FROM unnest(written) w;
    old := ltv_lock_profiles(ids);
    WITH i AS (
        SELECT customer_id, ltv_utc_day(interaction_date) AS day, coalesce(channel, '') AS channel,
               interaction_type ILIKE '%support%' AS support, satisfaction_score
        FROM unnest(written)
    ), daily AS (
        INSERT INTO interaction_day AS d
        SELECT customer_id, day, channel, count(*), count(*) FILTER (WHERE support),
               coalesce(sum(satisfaction_score), 0), count(satisfaction_score)
        FROM i GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (customer_id, day, channel) DO UPDATE SET
          interactions = d.interactions + EXCLUDED.interactions,
          support_contacts = d.support_contacts + EXCLUDED.support_contacts,
          satisfaction_sum = d.satisfaction_sum + EXCLUDED.satisfaction_sum,
          satisfaction_n = d.satisfaction_n + EXCLUDED.satisfaction_n
    ), channels AS (
        INSERT INTO customer_channel_total AS c
        SELECT customer_id, channel, count(*) FROM i GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (customer_id, channel) DO UPDATE SET interactions = c.interactions + EXCLUDED.interactions
    )
    UPDATE customer_summary s SET
        interactions = s.interactions + x.interactions,
        support_contacts = s.support_contacts + x.support_contacts,
        satisfaction_sum = s.satisfaction_sum + x.satisfaction_sum,
        satisfaction_n = s.satisfaction_n + x.satisfaction_n
    FROM (SELECT customer_id, count(*) AS interactions, count(*) FILTER (WHERE support) AS support_contacts,
                 coalesce(sum(satisfaction_score), 0) AS satisfaction_sum, count(satisfaction_score) AS satisfaction_n
          FROM i GROUP BY 1) x
    WHERE s.customer_id = x.customer_id;
    PERFORM ltv_refresh_primary_channel(ids);
    PERFORM ltv_apply_profiles(old, ltv_profiles_of(ids));
    RETURN cardinality(written);
END
$$;

CREATE OR REPLACE FUNCTION ltv_write_interactions(
    p_interaction_id text[], p_customer_id text[], p_interaction_date timestamptz[], p_interaction_type text[],
    p_channel text[], p_duration_seconds int4[], p_satisfaction_score int2[])
RETURNS bigint
LANGUAGE sql
AS $$
  SELECT ltv_apply_interactions(ltv_insert_interactions(p_interaction_id, p_customer_id, p_interaction_date,
                                                        p_interaction_type, p_channel, p_duration_seconds,
                                                        p_satisfaction_score))
$$;

-- Steps 2-4 for the rows of `keys` (ids of the datasource `ds`), read back
-- from the raw table: the maintainer's pass. Applying the same customer twice
-- is harmless (the second time its profile already holds the attributes: new
-- equals old); a transaction or interaction key must be applied once.
CREATE OR REPLACE FUNCTION ltv_apply_written(ds text, keys text[]) RETURNS bigint
LANGUAGE plpgsql
AS $$
BEGIN
    CASE ds
        WHEN 'customers' THEN
            RETURN ltv_apply_customers(ARRAY(SELECT c FROM customers c WHERE c.customer_id = ANY (keys)));
        WHEN 'transactions' THEN
            RETURN ltv_apply_transactions(ARRAY(SELECT t FROM transactions t WHERE t.transaction_id = ANY (keys)));
        WHEN 'customer_interactions' THEN
            RETURN ltv_apply_interactions(
                ARRAY(SELECT i FROM customer_interactions i WHERE i.interaction_id = ANY (keys)));
    END CASE;
END
$$;

-- One maintainer at a time, across every server, until the caller's commit:
-- a pass never waits on another pass's profile locks, and a recomputation
-- (src/rollups/rebuild.rs) takes the same lock so that no pass writes the
-- derived tables it replaces.
CREATE OR REPLACE FUNCTION ltv_lock_maintainer() RETURNS void
LANGUAGE sql
AS $$ SELECT pg_advisory_xact_lock(7181001) $$;

-- The maintainer's pass, in the caller's transaction: claims (deletes) the
-- oldest `max_rows` keys of pending_apply and applies their rows, customers
-- first. Returns how many keys it claimed per datasource (none: nothing was
-- pending).
CREATE OR REPLACE FUNCTION ltv_apply_pending(max_rows integer)
RETURNS TABLE (source text, claimed bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    bound bigint;
    batch record;
BEGIN
    -- An idle server's passes take no lock.
    IF NOT EXISTS (SELECT 1 FROM pending_apply) THEN
        RETURN;
    END IF;
    PERFORM ltv_lock_maintainer();
    -- The batch as a range of the key, not `seq IN (subquery)`: the queue's
    -- statistics are usually those of an empty table, and with them the
    -- planner took a nested loop over queue × batch (a 200,000-key queue:
    -- minutes per pass). A key committed later below the bound is left for
    -- the next pass, which starts from the lowest.
    SELECT max(q.seq) INTO bound
    FROM (SELECT p.seq FROM pending_apply p ORDER BY p.seq LIMIT max_rows) q;
    FOR batch IN
        WITH c AS (
            DELETE FROM pending_apply p WHERE p.seq <= bound
            RETURNING p.datasource AS ds, p.key AS k
        )
        SELECT c.ds, count(*) AS n, array_agg(DISTINCT c.k) AS keys FROM c GROUP BY c.ds
        ORDER BY array_position(ARRAY['customers', 'transactions', 'customer_interactions'], c.ds)
    LOOP
        PERFORM ltv_apply_written(batch.ds, batch.keys);
        source := batch.ds;
        claimed := batch.n;
        RETURN NEXT;
    END LOOP;
END
$$;
