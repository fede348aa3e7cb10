//! The question behind each harness call, as plain SQL over the three raw
//! tables, written once for both baselines: PostgreSQL (the raw tables
//! ltv-pipes stores, with their indexes, nothing derived) and DuckDB (the
//! same rows in memory, benches/duckdb_baseline.py). The session time zone is
//! UTC in both, so a cast to `date` is the UTC day, as in docs/METRICS.md.
//!
//! Each question is the one a user without ltv-pipes would write for the
//! call: the same population, filters, window, grouping, ordering and limit;
//! the metrics of docs/METRICS.md, without its output formatting. Call values
//! come from the harness's own list and are spelled as SQL literals (quotes
//! doubled); this is benchmark code, the product binds every parameter.
//! `ltv_forecast` has no plain-SQL equivalent (nobody fits BG/NBD in SQL):
//! its question is the model's inputs per customer, summed.

use std::collections::BTreeMap;

/// A call's parameters, percent-decoded.
pub struct Call {
    params: BTreeMap<String, String>,
}

impl Call {
    pub fn parse(query: &str) -> Call {
        let params = query
            .split('&')
            .filter(|kv| !kv.is_empty() && *kv != "default")
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), decode(v)))
            .collect();
        Call { params }
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.params.get(k).map(String::as_str)
    }

    fn as_of(&self) -> chrono::NaiveDate {
        self.get("as_of")
            .map(|d| d.parse().expect("as_of is a date"))
            .unwrap_or_else(|| chrono::Utc::now().date_naive())
    }

    /// `end` is exclusive: midnight UTC after `as_of`.
    fn end(&self) -> String {
        ts(&format!("{} 00:00:00", self.as_of() + chrono::Days::new(1)))
    }

    fn int(&self, k: &str, default: i64) -> i64 {
        self.get(k)
            .map(|v| v.parse().expect("an integer parameter"))
            .unwrap_or(default)
    }

    fn number(&self, k: &str) -> Option<f64> {
        self.get(k).map(|v| v.parse().expect("a number parameter"))
    }

    /// The customer attribute filters (and the registration window where
    /// `registration_window`), as `AND …` conditions on `customers` columns.
    fn customer_filters(&self, registration_window: bool, is_active: bool) -> String {
        let mut out = String::new();
        for col in ["country", "segment", "acquisition_source"] {
            if let Some(v) = self.get(col) {
                out.push_str(&format!(" AND {col} = {}", lit(v)));
            }
        }
        if is_active {
            if let Some(v) = self.get("is_active") {
                out.push_str(&format!(
                    " AND is_active = {}",
                    v.parse::<i16>().expect("0 or 1")
                ));
            }
        }
        if registration_window {
            out.push_str(&self.window("registration_date"));
        }
        out
    }

    /// `[start_date, end_date]` on `col`, both inclusive.
    fn window(&self, col: &str) -> String {
        let mut out = String::new();
        if let Some(v) = self.get("start_date") {
            out.push_str(&format!(" AND {col} >= {}", ts(v)));
        }
        if let Some(v) = self.get("end_date") {
            out.push_str(&format!(" AND {col} <= {}", ts(v)));
        }
        out
    }

    fn filtered(&self, registration_window: bool, is_active: bool) -> bool {
        !self
            .customer_filters(registration_window, is_active)
            .is_empty()
    }
}

fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
                out.push(u8::from_str_radix(hex, 16).expect("a percent escape"));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("utf-8")
}

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A timestamp in UTC ("YYYY-MM-DD" is midnight).
fn ts(s: &str) -> String {
    let full = if s.len() == 10 {
        format!("{s} 00:00:00")
    } else {
        s.to_string()
    };
    format!("CAST({} AS TIMESTAMPTZ)", lit(&format!("{full}+00")))
}

/// Raw transactions up to the end of `as_of`, the refund rule applied, and
/// per-customer totals (of `customers` in `among` when filtered).
fn transactions(c: &Call, among: Option<&str>) -> String {
    let among = among
        .map(|a| format!(" AND customer_id IN (SELECT customer_id FROM {a})"))
        .unwrap_or_default();
    format!(
        "tx AS (SELECT customer_id, transaction_date, amount, product_category,
                       (is_refund = 1 OR coalesce(transaction_type, '') = 'refund') AS r
                FROM transactions WHERE transaction_date < {end}{among}),
         totals AS (SELECT customer_id, count(*) FILTER (WHERE NOT r) AS purchases,
                           count(*) FILTER (WHERE r) AS refunds,
                           coalesce(sum(amount) FILTER (WHERE NOT r), 0) AS gross,
                           coalesce(sum(amount) FILTER (WHERE r), 0) AS refunded,
                           min(transaction_date) FILTER (WHERE NOT r) AS first_at,
                           max(transaction_date) FILTER (WHERE NOT r) AS last_at
                    FROM tx GROUP BY customer_id)",
        end = c.end()
    )
}

/// `known` (the matching registered customers), `tx`, `totals` and `base`:
/// one row per customer of the population with its totals. Without a
/// customer filter, transaction-only customers belong to it too.
fn population(c: &Call, registration_window: bool, is_active: bool) -> String {
    let filtered = c.filtered(registration_window, is_active);
    let join = if filtered {
        "known k LEFT JOIN totals t ON t.customer_id = k.customer_id"
    } else {
        "known k FULL JOIN totals t ON t.customer_id = k.customer_id"
    };
    format!(
        "known AS (SELECT * FROM customers WHERE registration_date < {end}{filters}),
         {tx},
         base AS (SELECT coalesce(k.customer_id, t.customer_id) AS customer_id, k.customer_id IS NOT NULL AS known,
                         k.registration_date, k.country, k.city, k.age, k.gender, k.acquisition_source, k.segment,
                         k.is_active, coalesce(t.purchases, 0) AS purchases, coalesce(t.refunds, 0) AS refunds,
                         coalesce(t.gross, 0) AS gross, coalesce(t.refunded, 0) AS refunded,
                         coalesce(t.gross, 0) - coalesce(t.refunded, 0) AS ltv, t.first_at, t.last_at
                  FROM {join})",
        end = c.end(),
        filters = c.customer_filters(registration_window, is_active),
        tx = transactions(c, filtered.then_some("known")),
    )
}

fn period_unit(c: &Call) -> (&'static str, u32) {
    match c.get("cohort_period").unwrap_or("month") {
        "month" => ("month", 1),
        "quarter" => ("quarter", 3),
        "year" => ("year", 12),
        other => panic!("cohort_period {other}"),
    }
}

/// The period index of a timestamp or date (months since year 0, in periods).
fn period_index(x: &str, months: u32) -> String {
    format!("floor((extract(year FROM {x}) * 12 + extract(month FROM {x}) - 1) / {months}.0)")
}

fn customer_ltv(c: &Call) -> String {
    let margin = c.number("margin").unwrap_or(1.0);
    let desc = c.get("order_dir") != Some("asc");
    let (col, reverse) = match c.get("order_by").unwrap_or("ltv") {
        "ltv" | "historical_clv" => ("ltv", false),
        "gross_revenue" => ("gross", false),
        "total_orders" => ("purchases", false),
        "avg_order_value" => ("avg_order_value", false),
        "refunded_amount" => ("refunded", false),
        "first_purchase_date" => ("first_at", false),
        "last_purchase_date" => ("last_at", false),
        "registration_date" => ("registration_date", false),
        "tenure_days" => ("registration_date", true),
        "days_since_last_purchase" => ("last_at", true),
        "customer_id" => ("customer_id", false),
        other => panic!("order_by {other}"),
    };
    let dir = if desc != reverse { "DESC" } else { "ASC" };
    let mut filters = String::new();
    if let Some(v) = c.number("min_ltv") {
        filters.push_str(&format!(" AND ltv >= {v}"));
    }
    if let Some(v) = c.get("customer_id") {
        filters.push_str(&format!(" AND customer_id = {}", lit(v)));
    }
    format!(
        "WITH {pop}
         SELECT *, ltv * {margin} AS historical_clv FROM (
           SELECT *, gross / nullif(purchases, 0) AS avg_order_value FROM base) b
         WHERE true{filters}
         ORDER BY {col} {dir} NULLS LAST, customer_id LIMIT {limit} OFFSET {offset}",
        pop = population(c, true, true),
        limit = c.int("limit", 100),
        offset = c.int("offset", 0),
    )
}

fn ltv_by_cohort(c: &Call) -> String {
    let (unit, _) = period_unit(c);
    // Transaction-only customers have a first purchase but no registration.
    let (at, members) = match c.get("cohort_basis").unwrap_or("registration") {
        "registration" => ("registration_date", "known"),
        _ => ("first_at", "first_at IS NOT NULL"),
    };
    format!(
        "WITH {pop}
         SELECT date_trunc('{unit}', {at}) AS cohort, count(*) AS cohort_size,
                count(*) FILTER (WHERE purchases > 0) AS paying_customers, sum(purchases) AS total_orders,
                sum(gross) AS gross_revenue, sum(ltv) AS total_revenue, avg(ltv) AS avg_ltv,
                sum(ltv) / nullif(count(*) FILTER (WHERE purchases > 0), 0) AS avg_ltv_paying,
                avg(purchases) AS avg_orders_per_customer, sum(gross) / nullif(sum(purchases), 0) AS avg_order_value
         FROM base WHERE {members} GROUP BY 1 ORDER BY 1",
        pop = population(c, true, false),
    )
}

fn customer_retention_analysis(c: &Call) -> String {
    let (_, months) = period_unit(c);
    let max_periods = c.int("max_periods", 24);
    let cohort_at = match c.get("cohort_basis").unwrap_or("registration") {
        "registration" => "registration_date",
        _ => "first_at",
    };
    let cohort = period_index(cohort_at, months);
    let period = period_index("x.transaction_date", months);
    format!(
        "WITH {pop},
         m AS (SELECT customer_id, {cohort} AS cohort FROM base WHERE {cohort_at} IS NOT NULL),
         size AS (SELECT cohort, count(*) AS cohort_size FROM m GROUP BY 1),
         a AS (SELECT m.cohort, {period} - m.cohort AS period_number,
                      count(DISTINCT x.customer_id) FILTER (WHERE NOT x.r) AS active_customers,
                      sum(CASE WHEN x.r THEN -x.amount ELSE x.amount END) AS revenue
               FROM m JOIN tx x ON x.customer_id = m.customer_id
               WHERE {period} >= m.cohort AND {period} < m.cohort + {max_periods}
               GROUP BY 1, 2)
         SELECT s.cohort, g.n AS period_number, s.cohort_size, coalesce(a.active_customers, 0) AS active_customers,
                coalesce(a.active_customers, 0) * 1.0 / s.cohort_size AS retention_rate,
                coalesce(a.revenue, 0) AS revenue,
                sum(coalesce(a.revenue, 0)) OVER (PARTITION BY s.cohort ORDER BY g.n) / s.cohort_size AS cumulative_ltv
         FROM size s
         JOIN generate_series(0, {last}) AS g(n) ON g.n <= {as_of_period} - s.cohort
         LEFT JOIN a ON a.cohort = s.cohort AND a.period_number = g.n
         ORDER BY 1, 2",
        pop = population(c, true, false),
        last = max_periods - 1,
        as_of_period = period_index(&format!("DATE '{}'", c.as_of()), months),
    )
}

/// Scored RFM rows (`named`) over the transaction window, with the filters.
fn rfm(c: &Call) -> String {
    let among = among_matching(c);
    format!(
        "w AS (SELECT customer_id, transaction_date, amount,
                      (is_refund = 1 OR coalesce(transaction_type, '') = 'refund') AS r
               FROM transactions WHERE transaction_date < {end}{window}{among}),
         f AS (SELECT customer_id, count(*) FILTER (WHERE NOT r) AS frequency,
                      sum(CASE WHEN r THEN -amount ELSE amount END) AS monetary,
                      max(transaction_date) FILTER (WHERE NOT r) AS last_at
               FROM w GROUP BY customer_id HAVING count(*) FILTER (WHERE NOT r) > 0),
         scored AS (SELECT *, 1 + floor(5.0 * (rank() OVER (ORDER BY recency_days DESC) - 1) / count(*) OVER ()) AS r_score,
                           1 + floor(5.0 * (rank() OVER (ORDER BY frequency) - 1) / count(*) OVER ()) AS f_score,
                           1 + floor(5.0 * (rank() OVER (ORDER BY monetary) - 1) / count(*) OVER ()) AS m_score
                    FROM (SELECT *, DATE '{as_of}' - CAST(last_at AS DATE) AS recency_days FROM f) x),
         named AS (SELECT *, CASE
                      WHEN r_score = 5 AND f_score >= 4 THEN 'Champions'
                      WHEN r_score BETWEEN 3 AND 4 AND f_score >= 4 THEN 'Loyal Customers'
                      WHEN r_score >= 4 AND f_score BETWEEN 2 AND 3 THEN 'Potential Loyalist'
                      WHEN r_score = 5 AND f_score = 1 THEN 'New Customers'
                      WHEN r_score = 4 AND f_score = 1 THEN 'Promising'
                      WHEN r_score = 3 AND f_score = 3 THEN 'Need Attention'
                      WHEN r_score = 3 THEN 'About To Sleep'
                      WHEN f_score = 5 THEN 'Can''t Lose Them'
                      WHEN f_score >= 3 THEN 'At Risk'
                      ELSE 'Hibernating' END AS rfm_segment
                   FROM scored)",
        end = c.end(),
        window = c.window("transaction_date"),
        as_of = c.as_of(),
    )
}

/// `AND customer_id IN (…)` the customers matching the attribute filters
/// (nothing without a filter: transaction-only customers count then).
fn among_matching(c: &Call) -> String {
    let filters = c.customer_filters(false, false);
    if filters.is_empty() {
        String::new()
    } else {
        format!(" AND customer_id IN (SELECT customer_id FROM customers WHERE true{filters})")
    }
}

fn rfm_output_filters(c: &Call) -> String {
    let mut out = String::new();
    if let Some(v) = c.number("min_frequency") {
        out.push_str(&format!(" AND frequency >= {v}"));
    }
    if let Some(v) = c.number("min_monetary") {
        out.push_str(&format!(" AND monetary >= {v}"));
    }
    if let Some(v) = c.get("segment_filter") {
        out.push_str(&format!(" AND rfm_segment = {}", lit(v)));
    }
    out
}

fn customer_segmentation(c: &Call) -> String {
    format!(
        "WITH {rfm}
         SELECT customer_id, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_segment, last_at
         FROM named WHERE true{out}
         ORDER BY monetary DESC, customer_id LIMIT {limit}",
        rfm = rfm(c),
        out = rfm_output_filters(c),
        limit = c.int("limit", 100),
    )
}

fn customer_segmentation_summary(c: &Call) -> String {
    format!(
        "WITH {rfm}
         SELECT rfm_segment, count(*) AS customers, count(*) * 1.0 / sum(count(*)) OVER () AS share,
                avg(recency_days) AS avg_recency_days, avg(frequency) AS avg_frequency,
                avg(monetary) AS avg_monetary, sum(monetary) AS total_monetary
         FROM named WHERE true{out} GROUP BY 1 ORDER BY 1",
        rfm = rfm(c),
        out = rfm_output_filters(c),
    )
}

fn ltv_influencing_factors(c: &Call) -> String {
    let end = c.end();
    format!(
        "WITH {pop},
         ix AS (SELECT customer_id, channel, count(*) AS n, sum(satisfaction_score) AS sat_sum,
                       count(satisfaction_score) AS sat_n
                FROM customer_interactions
                WHERE interaction_date < {end} AND customer_id IN (SELECT customer_id FROM known)
                GROUP BY 1, 2),
         it AS (SELECT customer_id, sum(n) AS interactions, sum(sat_sum) AS sat_sum, sum(sat_n) AS sat_n
                FROM ix GROUP BY 1),
         pc AS (SELECT DISTINCT ON (customer_id) customer_id, channel FROM ix
                ORDER BY customer_id, n DESC, channel),
         tc AS (SELECT DISTINCT ON (customer_id) customer_id, product_category FROM
                  (SELECT customer_id, product_category, sum(amount) AS g FROM tx WHERE NOT r GROUP BY 1, 2) x
                ORDER BY customer_id, g DESC, product_category),
         b AS (SELECT b.*, coalesce(it.interactions, 0) AS interactions, it.sat_sum, it.sat_n,
                      pc.channel, tc.product_category,
                      CASE WHEN b.age IS NULL THEN 'unknown' WHEN b.age < 18 THEN '<18' WHEN b.age <= 24 THEN '18-24'
                           WHEN b.age <= 34 THEN '25-34' WHEN b.age <= 44 THEN '35-44' WHEN b.age <= 54 THEN '45-54'
                           WHEN b.age <= 64 THEN '55-64' ELSE '65+' END AS age_band
               FROM base b LEFT JOIN it ON it.customer_id = b.customer_id
               LEFT JOIN pc ON pc.customer_id = b.customer_id LEFT JOIN tc ON tc.customer_id = b.customer_id
               WHERE b.known),
         fv AS (SELECT 'acquisition_source' AS factor, acquisition_source AS value, * FROM b
                UNION ALL SELECT 'segment', segment, * FROM b
                UNION ALL SELECT 'country', country, * FROM b
                UNION ALL SELECT 'gender', gender, * FROM b
                UNION ALL SELECT 'age_band', age_band, * FROM b
                UNION ALL SELECT 'primary_channel', channel, * FROM b
                UNION ALL SELECT 'top_category', product_category, * FROM b)
         SELECT factor, coalesce(value, 'unknown') AS value, count(*) AS customers, avg(ltv) AS avg_ltv,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY ltv) AS median_ltv, avg(purchases) AS avg_orders,
                sum(gross) / nullif(sum(purchases), 0) AS avg_order_value, avg(interactions) AS avg_interactions,
                sum(sat_sum) * 1.0 / nullif(sum(sat_n), 0) AS avg_satisfaction,
                sum(ltv) / nullif(sum(sum(ltv)) OVER (PARTITION BY factor), 0) AS revenue_share
         FROM fv GROUP BY 1, 2 HAVING count(*) >= {min} ORDER BY 1, 2",
        pop = population(c, true, false),
        min = c.int("min_customers", 10),
    )
}

fn ltv_overview(c: &Call) -> String {
    format!(
        "WITH {pop},
         ranked AS (SELECT ltv, purchases, gross, refunded, is_active,
                           row_number() OVER (ORDER BY ltv DESC) AS rn, count(*) OVER () AS n FROM base)
         SELECT count(*) AS customers, count(*) FILTER (WHERE purchases > 0) AS paying_customers,
                count(*) FILTER (WHERE is_active = 1) AS active_customers, sum(ltv) AS total_revenue,
                avg(ltv) AS avg_ltv, percentile_cont(0.5) WITHIN GROUP (ORDER BY ltv) AS median_ltv,
                avg(purchases) AS avg_orders, sum(gross) / nullif(sum(purchases), 0) AS avg_order_value,
                sum(refunded) / nullif(sum(gross), 0) AS refund_rate,
                sum(ltv) FILTER (WHERE rn <= ceil(0.1 * n)) / nullif(sum(ltv), 0) AS top_10pct_revenue_share
         FROM ranked",
        pop = population(c, false, false),
    )
}

/// The BG/NBD inputs per customer (frequency, recency, T in days, average
/// repeat value), of the matching customers, summed.
fn ltv_forecast(c: &Call) -> String {
    let among = among_matching(c);
    format!(
        "WITH d AS (SELECT customer_id, CAST(transaction_date AS DATE) AS day,
                           sum(CASE WHEN is_refund = 1 OR coalesce(transaction_type, '') = 'refund'
                                    THEN -amount ELSE amount END) AS net
                    FROM transactions WHERE transaction_date < {end}{among}
                    GROUP BY 1, 2
                    HAVING bool_or(NOT (is_refund = 1 OR coalesce(transaction_type, '') = 'refund'))),
         i AS (SELECT customer_id, count(*) - 1 AS frequency, max(day) - min(day) AS recency,
                      DATE '{as_of}' - min(day) AS t, sum(net) AS net FROM d GROUP BY 1)
         SELECT count(*), sum(frequency), sum(recency), sum(t), sum(net) FROM i",
        end = c.end(),
        as_of = c.as_of(),
    )
}

/// The question of `pipe` called with `query` (the harness's call label:
/// "default" or a query string).
pub fn question(pipe: &str, query: &str) -> Option<String> {
    let c = Call::parse(query);
    Some(match pipe {
        "customer_ltv" => customer_ltv(&c),
        "ltv_by_cohort" => ltv_by_cohort(&c),
        "customer_retention_analysis" => customer_retention_analysis(&c),
        "customer_segmentation" => customer_segmentation(&c),
        "customer_segmentation_summary" => customer_segmentation_summary(&c),
        "ltv_influencing_factors" => ltv_influencing_factors(&c),
        "ltv_overview" => ltv_overview(&c),
        "ltv_forecast" => ltv_forecast(&c),
        _ => return None,
    })
}
