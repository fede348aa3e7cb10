-- The recency and frequency cuts from their own small tables.
--
-- ltv_rfm_cuts summed rfm_cube (one row per last purchase day x purchases:
-- 42,194 rows, 42 MB after a 1M-customer load) three times per request: ~55
-- of the ~80 ms of an RFM default call at 1M. The cuts only need each
-- dimension on its own: rfm_days (~1,100 rows: one per day) and
-- rfm_purchases (~340 rows), kept by the same trigger from the same delta.

CREATE TABLE rfm_days (
    last_day  date   PRIMARY KEY,
    customers bigint NOT NULL
);

CREATE TABLE rfm_purchases (
    purchases bigint PRIMARY KEY,
    customers bigint NOT NULL
);

INSERT INTO rfm_days
SELECT last_day, sum(customers) FROM rfm_cube GROUP BY 1 HAVING sum(customers) <> 0;
INSERT INTO rfm_purchases
SELECT purchases, sum(customers) FROM rfm_cube GROUP BY 1 HAVING sum(customers) <> 0;

-- As in 0010, plus the two marginals, summed from the cube's own delta so the
-- transition tables are read once for all three.
CREATE OR REPLACE FUNCTION ltv_rfm_apply() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    -- An INSERT has no old rows; an UPDATE subtracts them. Rows whose
    -- contribution did not change cancel out and touch nothing.
    source text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT 1 AS sign, n.* FROM new_rows n WHERE n.purchases > 0'
        ELSE 'SELECT 1 AS sign, n.* FROM new_rows n WHERE n.purchases > 0
              UNION ALL SELECT -1, o.* FROM old_rows o WHERE o.purchases > 0' END;
BEGIN
    -- Key order: concurrent writers lock rows in the same order.
    EXECUTE 'WITH delta AS MATERIALIZED (
                 SELECT ltv_utc_day(x.last_purchase_at) AS last_day, x.purchases,
                        sum(x.sign) AS customers, sum(x.sign * (x.gross - x.refunded)) AS monetary
                 FROM (' || source || ') x
                 GROUP BY 1, 2
                 HAVING sum(x.sign) <> 0 OR sum(x.sign * (x.gross - x.refunded)) <> 0),
             cube AS (
                 INSERT INTO rfm_cube AS c
                 SELECT * FROM delta ORDER BY 1, 2
                 ON CONFLICT (last_day, purchases) DO UPDATE SET
                     customers = c.customers + EXCLUDED.customers, monetary = c.monetary + EXCLUDED.monetary),
             days AS (
                 INSERT INTO rfm_days AS d
                 SELECT last_day, sum(customers) FROM delta GROUP BY 1 HAVING sum(customers) <> 0 ORDER BY 1
                 ON CONFLICT (last_day) DO UPDATE SET customers = d.customers + EXCLUDED.customers)
             INSERT INTO rfm_purchases AS p
             SELECT purchases, sum(customers) FROM delta GROUP BY 1 HAVING sum(customers) <> 0 ORDER BY 1
             ON CONFLICT (purchases) DO UPDATE SET customers = p.customers + EXCLUDED.customers';
    EXECUTE 'INSERT INTO rfm_monetary AS m
             SELECT ltv_bucket(x.gross - x.refunded), sum(x.sign)
             FROM (' || source || ') x
             GROUP BY 1
             HAVING sum(x.sign) <> 0
             ORDER BY 1
             ON CONFLICT (bucket) DO UPDATE SET customers = m.customers + EXCLUDED.customers';
    RETURN NULL;
END
$$;

-- As in 0010, reading the marginals.
CREATE OR REPLACE FUNCTION ltv_rfm_cuts(OUT n bigint, OUT day_cut date[], OUT frequency_cut bigint[],
                                        OUT monetary_neg_cut numeric[])
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    SELECT coalesce(sum(c.customers), 0) INTO n FROM rfm_purchases c;
    IF n = 0 THEN
        RETURN;
    END IF;
    WITH d AS MATERIALIZED (
        SELECT c.last_day AS v, sum(c.customers) OVER (ORDER BY c.last_day) AS cum FROM rfm_days c
    ), f AS MATERIALIZED (
        SELECT c.purchases AS v, sum(c.customers) OVER (ORDER BY c.purchases) AS cum FROM rfm_purchases c
    )
    SELECT array_agg((SELECT min(d.v) FROM d WHERE d.cum >= (j * n + 4) / 5) ORDER BY j),
           array_agg((SELECT min(f.v) FROM f WHERE f.cum >= (j * n + 4) / 5) ORDER BY j)
    INTO day_cut, frequency_cut
    FROM generate_series(1, 4) j;
    SELECT array_agg(-v ORDER BY v DESC) INTO monetary_neg_cut
    FROM unnest(ltv_rfm_monetary_at(ARRAY[(n + 4) / 5, (2 * n + 4) / 5, (3 * n + 4) / 5, (4 * n + 4) / 5])) v;
END
$$;
