-- The per-customer rollups that ingestion keeps in the same transaction as
-- the raw rows (src/ingest/store.rs): customer_day_category, interaction_day,
-- customer_summary's totals, customer_category_total and customer_channel_total;
-- and the functions that read them for any as_of.

-- The newest transaction / interaction day stored (null when none).
CREATE OR REPLACE FUNCTION ltv_max_transaction_day() RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT max(day) FROM customer_day_category $$;

CREATE OR REPLACE FUNCTION ltv_max_interaction_day() RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT max(day) FROM interaction_day $$;

-- Per customer with a transaction dated by as_of: purchase and refund totals.
-- When as_of is on or after the newest transaction the summary answers (one
-- row per customer); otherwise the daily rollup up to as_of does. Exactly one
-- branch runs (its one-time filter is false for the other).
CREATE OR REPLACE FUNCTION ltv_transaction_totals(as_of date)
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
CREATE OR REPLACE FUNCTION ltv_interaction_totals(as_of date)
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

-- Recomputes customer_summary.top_category / primary_channel for `ids` from the
-- all-time totals (ingestion calls these for the customers of each batch).
CREATE OR REPLACE FUNCTION ltv_refresh_top_category(ids text[]) RETURNS void
LANGUAGE sql VOLATILE
AS $$
  UPDATE customer_summary s SET top_category = x.category
  FROM (SELECT DISTINCT ON (customer_id) customer_id, category
        FROM customer_category_total
        WHERE customer_id = ANY (ids) AND purchases > 0
        ORDER BY customer_id, gross DESC, CASE WHEN category = '' THEN 'unknown' ELSE category END) x
  -- Rows whose arg-max did not change are not rewritten.
  WHERE s.customer_id = x.customer_id AND s.top_category IS DISTINCT FROM x.category
$$;

CREATE OR REPLACE FUNCTION ltv_refresh_primary_channel(ids text[]) RETURNS void
LANGUAGE sql VOLATILE
AS $$
  UPDATE customer_summary s SET primary_channel = x.channel
  FROM (SELECT DISTINCT ON (customer_id) customer_id, channel
        FROM customer_channel_total
        WHERE customer_id = ANY (ids)
        ORDER BY customer_id, interactions DESC, CASE WHEN channel = '' THEN 'unknown' ELSE channel END) x
  WHERE s.customer_id = x.customer_id AND s.primary_channel IS DISTINCT FROM x.channel
$$;
