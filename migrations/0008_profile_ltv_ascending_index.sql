-- customer_ltv by ltv ascending (the lowest, or most refunded, customers
-- first) off an index read forward: read backward, the descending index puts
-- each tie group in reverse customer_id order, and the first group, every
-- customer at ltv 0 (125,870 of 1M demo customers), was sorted whole per
-- call (155-333 ms). See ltv_customer_sort_key (sql/03_profile.sql).
CREATE INDEX customer_summary_ltv_ascending ON customer_summary (round(gross - refunded, 2), customer_id);
