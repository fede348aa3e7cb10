//! The CLV questions written as plain SQL over the raw tables (indexed), as a
//! user without ltv-pipes would write them: the benchmarks' baseline. `$1` is
//! the end of today (UTC).

/// The plain-SQL questions over the raw tables, as of the end of today ($1).
const RAW_TX: &str = "SELECT *, (is_refund = 1 OR coalesce(transaction_type, '') = 'refund') AS r
                      FROM transactions WHERE transaction_date < $1";
fn raw_totals() -> String {
    format!(
        "SELECT customer_id, count(*) FILTER (WHERE NOT r) AS purchases, count(*) FILTER (WHERE r) AS refunds,
                coalesce(sum(amount) FILTER (WHERE NOT r), 0) AS gross, coalesce(sum(amount) FILTER (WHERE r), 0) AS refunded,
                min(transaction_date) FILTER (WHERE NOT r) AS first_at, max(transaction_date) FILTER (WHERE NOT r) AS last_at
         FROM ({RAW_TX}) x GROUP BY customer_id"
    )
}

pub fn baselines() -> Vec<(&'static str, String)> {
    let totals = raw_totals();
    let base = format!(
        "SELECT coalesce(c.customer_id, t.customer_id) AS customer_id, c.customer_id IS NOT NULL AS known, c.registration_date,
                c.country, c.segment, c.acquisition_source, c.gender, c.age, c.is_active,
                coalesce(t.purchases, 0) AS purchases, coalesce(t.refunds, 0) AS refunds, coalesce(t.gross, 0) AS gross,
                coalesce(t.refunded, 0) AS refunded, coalesce(t.gross, 0) - coalesce(t.refunded, 0) AS ltv, t.first_at, t.last_at
         FROM (SELECT * FROM customers WHERE registration_date < $1) c FULL JOIN ({totals}) t USING (customer_id)"
    );
    let rfm = format!(
        "SELECT t.customer_id, ($1::timestamptz - interval '1 day')::date - (t.last_at AT TIME ZONE 'UTC')::date AS recency_days,
                t.purchases AS frequency, t.gross - t.refunded AS monetary
         FROM ({totals}) t WHERE t.purchases > 0"
    );
    let scored = format!(
        "SELECT s.*, 1 + (5 * (rank() OVER (ORDER BY recency_days DESC) - 1)) / count(*) OVER () AS r_score,
                1 + (5 * (rank() OVER (ORDER BY frequency) - 1)) / count(*) OVER () AS f_score,
                1 + (5 * (rank() OVER (ORDER BY monetary) - 1)) / count(*) OVER () AS m_score
         FROM ({rfm}) s"
    );
    let raw_ix = "SELECT customer_id, count(*) AS interactions, count(*) FILTER (WHERE interaction_type ILIKE '%support%') AS support,
                         sum(satisfaction_score) AS sat_sum, count(satisfaction_score) AS sat_n
                  FROM customer_interactions WHERE interaction_date < $1 GROUP BY customer_id";
    vec![
        (
            "customer_ltv",
            format!("SELECT * FROM ({base}) b ORDER BY ltv DESC, customer_id LIMIT 100"),
        ),
        (
            "ltv_by_cohort",
            format!(
                "SELECT date_trunc('month', registration_date AT TIME ZONE 'UTC') AS cohort, count(*),
                        count(*) FILTER (WHERE purchases > 0), sum(purchases), sum(gross), sum(ltv), avg(ltv)
                 FROM ({base}) b WHERE known GROUP BY 1 ORDER BY 1"
            ),
        ),
        (
            "customer_retention_analysis",
            format!(
                "WITH m AS (SELECT customer_id, date_trunc('month', registration_date AT TIME ZONE 'UTC')::date AS cohort
                            FROM customers WHERE registration_date < $1),
                      a AS (SELECT m.cohort, m.customer_id,
                                   ltv_period_diff(m.cohort, (t.transaction_date AT TIME ZONE 'UTC')::date, 'month') AS k,
                                   count(*) FILTER (WHERE NOT r) AS purchases, sum(CASE WHEN r THEN -amount ELSE amount END) AS net
                            FROM m JOIN ({RAW_TX}) t USING (customer_id)
                            WHERE t.transaction_date >= m.cohort GROUP BY 1, 2, 3),
                      s AS (SELECT cohort, count(*) AS size FROM m GROUP BY 1)
                 SELECT s.cohort, g.n, s.size, count(a.customer_id) FILTER (WHERE a.purchases > 0), coalesce(sum(a.net), 0)
                 FROM s CROSS JOIN generate_series(0, 23) AS g(n) LEFT JOIN a ON a.cohort = s.cohort AND a.k = g.n
                 GROUP BY 1, 2, 3 ORDER BY 1, 2"
            ),
        ),
        (
            "customer_segmentation",
            format!("SELECT * FROM ({scored}) x ORDER BY monetary DESC, customer_id LIMIT 100"),
        ),
        (
            "customer_segmentation_summary",
            format!(
                "SELECT r_score, f_score, count(*), avg(recency_days), avg(frequency), avg(monetary), sum(monetary)
                 FROM ({scored}) x GROUP BY 1, 2"
            ),
        ),
        (
            "ltv_influencing_factors",
            format!(
                "WITH b AS (SELECT b.*, coalesce(i.interactions, 0) AS interactions, i.sat_sum, i.sat_n
                            FROM ({base}) b LEFT JOIN ({raw_ix}) i USING (customer_id) WHERE b.known),
                      pc AS (SELECT DISTINCT ON (customer_id) customer_id, channel FROM
                               (SELECT customer_id, channel, count(*) AS n FROM customer_interactions
                                WHERE interaction_date < $1 GROUP BY 1, 2) x ORDER BY customer_id, n DESC, channel),
                      tc AS (SELECT DISTINCT ON (customer_id) customer_id, product_category FROM
                               (SELECT customer_id, product_category, sum(amount) AS g FROM ({RAW_TX}) t WHERE NOT r
                                GROUP BY 1, 2) x ORDER BY customer_id, g DESC, product_category)
                 SELECT f, v, count(*), avg(ltv), percentile_cont(0.5) WITHIN GROUP (ORDER BY ltv::float8), avg(purchases),
                        sum(gross) / nullif(sum(purchases), 0), avg(interactions), sum(sat_sum)::numeric / nullif(sum(sat_n), 0)
                 FROM b LEFT JOIN pc USING (customer_id) LEFT JOIN tc USING (customer_id)
                 CROSS JOIN LATERAL (VALUES ('acquisition_source', b.acquisition_source), ('segment', b.segment),
                                            ('country', b.country), ('gender', b.gender), ('age', (b.age / 10)::text),
                                            ('primary_channel', pc.channel), ('top_category', tc.product_category)) AS x(f, v)
                 GROUP BY 1, 2"
            ),
        ),
        (
            // Plain SQL cannot fit BG/NBD; its part of the question is the
            // model's inputs per customer (docs/METRICS.md "Forecast"), which every
            // forecast needs, summed so the client does not fetch 1M rows.
            "ltv_forecast",
            format!(
                "SELECT count(*), sum(frequency), sum(recency), sum(t), sum(monetary_value)
                 FROM (SELECT customer_id, count(*) - 1 AS frequency, max(day) - min(day) AS recency,
                              ($1::timestamptz AT TIME ZONE 'UTC')::date - 1 - min(day) AS t,
                              CASE WHEN count(*) > 1 THEN (sum(net) - (array_agg(net ORDER BY day))[1]) / (count(*) - 1)
                                   ELSE 0 END AS monetary_value
                       FROM (SELECT customer_id, (transaction_date AT TIME ZONE 'UTC')::date AS day,
                                    sum(CASE WHEN r THEN -amount ELSE amount END) AS net
                             FROM ({RAW_TX}) x GROUP BY 1, 2 HAVING bool_or(NOT r)) d
                       GROUP BY customer_id) i"
            ),
        ),
        (
            "ltv_overview",
            format!(
                "SELECT count(*), count(*) FILTER (WHERE purchases > 0), count(*) FILTER (WHERE is_active = 1), sum(ltv), avg(ltv),
                        percentile_cont(0.5) WITHIN GROUP (ORDER BY ltv::float8), avg(purchases), sum(gross) / nullif(sum(purchases), 0),
                        sum(refunded) / nullif(sum(gross), 0)
                 FROM ({base}) b"
            ),
        ),
    ]
}

pub fn ltv_day_end_today() -> chrono::DateTime<chrono::Utc> {
    let today = chrono::Utc::now().date_naive();
    (today + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
}
