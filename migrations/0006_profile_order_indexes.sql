-- customer_ltv sorted by any of its columns reads its page off an index, as
-- the default order (ltv) always has: one index per sort key of
-- ltv_customer_page (sql/03_profile.sql), each with customer_id (the tie
-- order) second. An ascending index serves both directions: forward for
-- ascending, backward (ties then put back in customer_id order by an
-- incremental sort) for descending; the customers without a value (no
-- purchase, no registration) are the index's tail, read in customer_id order
-- for "nulls last". The days of tenure_days and days_since_last_purchase are
-- UTC days of a timestamp, written here as the expression itself (not
-- ltv_utc_day) so that no index depends on a function sql/ may redefine.
-- ltv and historical_clv use customer_summary_ltv, registration_date
-- customer_summary_registration_date (both already there).
CREATE INDEX customer_summary_gross ON customer_summary (round(gross, 2), customer_id);
CREATE INDEX customer_summary_purchases ON customer_summary (purchases, customer_id);
CREATE INDEX customer_summary_avg_order_value
    ON customer_summary (round(gross / nullif(purchases, 0), 2), customer_id);
CREATE INDEX customer_summary_refunded ON customer_summary (round(refunded, 2), customer_id);
CREATE INDEX customer_summary_first_purchase ON customer_summary (first_purchase_at, customer_id);
CREATE INDEX customer_summary_last_purchase ON customer_summary (last_purchase_at, customer_id);
CREATE INDEX customer_summary_last_purchase_day
    ON customer_summary (((last_purchase_at AT TIME ZONE 'UTC')::date), customer_id);
CREATE INDEX customer_summary_registration_day
    ON customer_summary (((registration_date AT TIME ZONE 'UTC')::date), customer_id);
