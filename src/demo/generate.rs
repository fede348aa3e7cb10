//! Deterministic, realistic demo customers: who they are, when they buy, what
//! they spend, when they talk to support. Pure: no I/O.
//!
//! Each customer draws from its own ChaCha stream seeded by (seed, index), so
//! customer i is the same whatever N is and whichever datasource is being
//! written: the three CSV files are generated in three independent passes
//! without holding anything in memory.
//!
//! The process (parameters in [`Process`]):
//! - registrations over three years, more of them recently (growth);
//! - purchases: BG/NBD — a first order shortly after most registrations, then
//!   repeat orders at a customer-specific Poisson rate λ ~ Gamma(r, 1/α) per
//!   day; after each repeat order the customer drops out with probability
//!   p ~ Beta(a, b);
//! - spend per order: Gamma-Gamma — order values ~ Gamma(shape, 1/ν) with the
//!   customer's ν ~ Gamma(q, 1/γ), scaled by segment (a gamma mixture);
//! - ~5% of orders are refunded a few days later (a `refund` row);
//! - interactions: more for active buyers, support contacts and complaints
//!   rated lower than logins.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Gamma, Normal};

/// The knobs of the simulated population.
#[derive(Debug, Clone, Copy)]
pub struct Process {
    /// BG/NBD purchase rate: λ ~ Gamma(r, scale 1/α), per day.
    pub r: f64,
    pub alpha: f64,
    /// BG/NBD dropout: p ~ Beta(a, b).
    pub a: f64,
    pub b: f64,
    /// Gamma-Gamma spend: value ~ Gamma(p, 1/ν), ν ~ Gamma(q, 1/γ).
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
    /// Share of orders refunded.
    pub refund_rate: f64,
    /// Share of registrations followed by a first order.
    pub first_order_rate: f64,
}

impl Default for Process {
    fn default() -> Self {
        Self {
            r: 0.9,
            alpha: 20.0,
            a: 0.6,
            b: 9.0,
            p: 6.25,
            q: 3.74,
            gamma: 15.44,
            refund_rate: 0.05,
            first_order_rate: 0.85,
        }
    }
}

/// What to generate: how many customers, from which seed, up to which day.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub customers: u64,
    pub seed: u64,
    /// The last day with events (UTC); registrations span the three years before it.
    pub end: NaiveDate,
    pub process: Process,
}

pub const YEARS: i64 = 3;

/// A fixed last day, so the same seed gives the same data on any day it runs.
pub const DEFAULT_END: NaiveDate = match NaiveDate::from_ymd_opt(2026, 9, 30) {
    Some(d) => d,
    None => panic!("valid date"),
};

const COUNTRIES: &[(&str, &[&str], u32)] = &[
    ("US", &["New York", "Austin", "Seattle", "Chicago"], 40),
    ("GB", &["London", "Manchester"], 12),
    ("DE", &["Berlin", "Munich", "Hamburg"], 12),
    ("FR", &["Paris", "Lyon"], 9),
    ("ES", &["Madrid", "Barcelona"], 7),
    ("BR", &["São Paulo", "Rio de Janeiro"], 8),
    ("CA", &["Toronto", "Vancouver"], 7),
    ("JP", &["Tokyo", "Osaka"], 5),
];
const SOURCES: &[(&str, u32)] = &[
    ("organic_search", 35),
    ("paid_ads", 25),
    ("referral", 15),
    ("social_media", 15),
    ("email", 10),
];
/// Segment, weight, spend multiplier, purchase-rate multiplier.
const SEGMENTS: &[(&str, u32, f64, f64)] = &[
    ("basic", 60, 0.8, 0.8),
    ("premium", 30, 1.4, 1.3),
    ("vip", 10, 2.5, 1.8),
];
const CATEGORIES: &[(&str, u32)] = &[
    ("electronics", 20),
    ("fashion", 25),
    ("home", 15),
    ("books", 15),
    ("sports", 10),
    ("beauty", 15),
];
const PAYMENTS: &[(&str, u32)] = &[
    ("credit_card", 55),
    ("paypal", 25),
    ("debit_card", 15),
    ("bank_transfer", 5),
];
const INTERACTIONS: &[(&str, u32, f64)] = &[
    ("login", 45, 4.3),
    ("purchase_inquiry", 20, 3.9),
    ("support_ticket", 20, 3.2),
    ("complaint", 7, 2.2),
    ("feedback", 8, 4.0),
];
const CHANNELS: &[(&str, u32)] = &[
    ("web", 35),
    ("mobile_app", 30),
    ("email", 15),
    ("chat", 12),
    ("phone", 8),
];

/// One customer and everything it did.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub id: String,
    pub registered: DateTime<Utc>,
    pub country: &'static str,
    pub city: &'static str,
    pub age: Option<u32>,
    pub gender: Option<&'static str>,
    pub source: &'static str,
    pub segment: &'static str,
    pub is_active: bool,
    pub orders: Vec<Order>,
    pub interactions: Vec<Interaction>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: String,
    pub at: DateTime<Utc>,
    /// Cents, so the CSV carries exact decimals.
    pub cents: i64,
    pub category: &'static str,
    pub payment: &'static str,
    /// A refund row (`transaction_type = refund`) rather than a purchase.
    pub refund: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    pub id: String,
    pub at: DateTime<Utc>,
    pub kind: &'static str,
    pub channel: &'static str,
    pub duration_seconds: u32,
    pub satisfaction: Option<u8>,
}

impl Spec {
    /// The demo defaults: events up to [`DEFAULT_END`], the default process.
    pub fn new(customers: u64, seed: u64) -> Self {
        Self {
            customers,
            seed,
            end: DEFAULT_END,
            process: Process::default(),
        }
    }

    fn window(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let end = (self.end + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc();
        (end - Duration::days(365 * YEARS), end)
    }

    /// Customer `i` (0-based): the same for a given seed whatever else is asked.
    pub fn customer(&self, i: u64) -> Customer {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(i);
        let (start, end) = self.window();
        let span = (end - start).num_seconds() as f64;
        // Growth: the density of registrations rises linearly over the window.
        let registered = start + secs(span * rng.random::<f64>().sqrt());
        let (country, cities) = weighted3(&mut rng, COUNTRIES);
        let city = cities[rng.random_range(0..cities.len())];
        let (segment, spend_mult, rate_mult) = segment(&mut rng);
        let age_draw: f64 = Normal::new(38.0, 12.0).expect("valid").sample(&mut rng);
        let age = (!rng.random_bool(0.04)).then(|| age_draw.clamp(18.0, 85.0) as u32);
        let gender = match rng.random_range(0..100) {
            0..=47 => Some("female"),
            48..=94 => Some("male"),
            95..=97 => Some("other"),
            _ => None,
        };
        let mut c = Customer {
            id: format!("cust_{:07}", i + 1),
            registered,
            country,
            city,
            age,
            gender,
            source: weighted(&mut rng, SOURCES),
            segment,
            is_active: true,
            orders: Vec::new(),
            interactions: Vec::new(),
        };
        self.orders(&mut rng, &mut c, end, spend_mult, rate_mult);
        self.interactions(&mut rng, &mut c, end);
        // Inactive: flagged by the business, mostly customers who stopped buying.
        let last = c.orders.iter().map(|o| o.at).max().unwrap_or(c.registered);
        let quiet_days = (end - last).num_days();
        c.is_active = !(quiet_days > 365 && rng.random_bool(0.6) || rng.random_bool(0.03));
        c
    }

    fn orders(
        &self,
        rng: &mut ChaCha8Rng,
        c: &mut Customer,
        end: DateTime<Utc>,
        spend_mult: f64,
        rate_mult: f64,
    ) {
        let p = &self.process;
        if !rng.random_bool(p.first_order_rate) {
            return;
        }
        let lambda = Gamma::new(p.r, 1.0 / p.alpha).expect("valid").sample(rng) * rate_mult;
        let dropout = Beta::new(p.a, p.b).expect("valid").sample(rng);
        let nu = Gamma::new(p.q, 1.0 / p.gamma).expect("valid").sample(rng);
        let value = Gamma::new(p.p, 1.0 / nu).expect("valid");
        let mut at = c.registered + secs(rng.random::<f64>() * 3.0 * 86_400.0);
        let mut n = 0;
        while at < end {
            n += 1;
            let cents = ((value.sample(rng) * spend_mult).clamp(1.0, 20_000.0) * 100.0).round();
            let order = Order {
                id: format!("{}_t{n}", c.id),
                at,
                cents: cents as i64,
                category: weighted(rng, CATEGORIES),
                payment: weighted(rng, PAYMENTS),
                refund: false,
            };
            if rng.random_bool(p.refund_rate) {
                let back = at + secs(86_400.0 * rng.random_range(1.0..20.0));
                if back < end {
                    c.orders.push(Order {
                        id: format!("{}_r{n}", c.id),
                        at: back,
                        refund: true,
                        ..order.clone()
                    });
                }
            }
            c.orders.push(order);
            // Dropout happens right after a repeat purchase (BG/NBD).
            if n > 1 && rng.random_bool(dropout) {
                break;
            }
            let wait_days = -(1.0 - rng.random::<f64>()).ln() / lambda.max(1e-9);
            if !wait_days.is_finite() || wait_days > 3650.0 {
                break;
            }
            at += secs(wait_days * 86_400.0);
        }
        c.orders.sort_by_key(|o| o.at);
    }

    fn interactions(&self, rng: &mut ChaCha8Rng, c: &mut Customer, end: DateTime<Utc>) {
        let span = (end - c.registered).num_seconds() as f64;
        let mean = 0.5 + 0.4 * c.orders.len() as f64;
        let n = poisson(rng, mean.min(40.0));
        for k in 0..n {
            let (kind, _, mood) = *weighted_entry(rng, INTERACTIONS);
            let rated = rng.random_bool(0.6);
            let score = mood + Normal::new(0.0, 0.9).expect("valid").sample(rng);
            c.interactions.push(Interaction {
                id: format!("{}_i{}", c.id, k + 1),
                at: c.registered + secs(span * rng.random::<f64>()),
                kind,
                channel: weighted(rng, CHANNELS),
                duration_seconds: rng.random_range(10..1_800),
                satisfaction: rated.then(|| score.round().clamp(1.0, 5.0) as u8),
            });
        }
        c.interactions.sort_by_key(|i| i.at);
    }
}

fn secs(s: f64) -> Duration {
    Duration::seconds(s as i64)
}

fn segment(rng: &mut ChaCha8Rng) -> (&'static str, f64, f64) {
    let total: u32 = SEGMENTS.iter().map(|s| s.1).sum();
    let mut pick = rng.random_range(0..total);
    for &(name, w, spend, rate) in SEGMENTS {
        if pick < w {
            return (name, spend, rate);
        }
        pick -= w;
    }
    unreachable!("weights cover the range")
}

fn weighted(rng: &mut ChaCha8Rng, items: &[(&'static str, u32)]) -> &'static str {
    weighted_by(rng, items, |i| i.1).0
}

fn weighted3<T>(
    rng: &mut ChaCha8Rng,
    items: &'static [(&'static str, T, u32)],
) -> (&'static str, &'static T) {
    let e = weighted_by(rng, items, |i| i.2);
    (e.0, &e.1)
}

fn weighted_entry<'a>(
    rng: &mut ChaCha8Rng,
    items: &'a [(&'static str, u32, f64)],
) -> &'a (&'static str, u32, f64) {
    weighted_by(rng, items, |i| i.1)
}

fn weighted_by<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut pick = rng.random_range(0..total);
    for item in items {
        let w = weight(item);
        if pick < w {
            return item;
        }
        pick -= w;
    }
    unreachable!("weights cover the range")
}

/// Knuth's method; fine for the small means used here.
fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u32 {
    let limit = (-mean).exp();
    let (mut k, mut prod) = (0, rng.random::<f64>());
    while prod > limit {
        k += 1;
        prod *= rng.random::<f64>();
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> Spec {
        Spec {
            customers: 1_000,
            seed,
            end: NaiveDate::from_ymd_opt(2026, 9, 30).unwrap(),
            process: Process::default(),
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_customers_and_another_seed_does_not() {
        let (a, b, c) = (spec(7), spec(7), spec(8));
        for i in [0, 1, 999] {
            assert_eq!(a.customer(i), b.customer(i));
        }
        assert_ne!(a.customer(0), c.customer(0));
    }

    #[test]
    fn events_stay_inside_the_window_and_after_registration() {
        let s = spec(1);
        let (start, end) = s.window();
        for i in 0..2_000 {
            let c = s.customer(i);
            assert!(c.registered >= start && c.registered < end);
            for o in &c.orders {
                assert!(o.at >= c.registered && o.at < end, "{o:?}");
                assert!(o.cents >= 100);
            }
            for x in &c.interactions {
                assert!(x.at >= c.registered && x.at < end);
                assert!(x.satisfaction.is_none_or(|s| (1..=5).contains(&s)));
            }
        }
    }

    #[test]
    fn the_population_looks_like_a_store() {
        let s = spec(3);
        let people: Vec<Customer> = (0..20_000).map(|i| s.customer(i)).collect();
        let orders: Vec<&Order> = people.iter().flat_map(|c| &c.orders).collect();
        let purchases = orders.iter().filter(|o| !o.refund).count() as f64;
        let refunds = orders.iter().filter(|o| o.refund).count() as f64;
        let per_customer = purchases / people.len() as f64;
        let refund_share = refunds / purchases;
        let buyers = people.iter().filter(|c| !c.orders.is_empty()).count() as f64;
        let avg_value =
            orders.iter().map(|o| o.cents as f64).sum::<f64>() / 100.0 / orders.len() as f64;
        assert!(
            (7.0..13.0).contains(&per_customer),
            "orders per customer {per_customer}"
        );
        assert!(
            (0.03..0.07).contains(&refund_share),
            "refund share {refund_share}"
        );
        assert!((0.8..0.9).contains(&(buyers / 20_000.0)), "buyers {buyers}");
        assert!(
            (25.0..80.0).contains(&avg_value),
            "average order {avg_value}"
        );
        // Later registrations outnumber early ones (growth).
        let (start, end) = s.window();
        let mid = start + (end - start) / 2;
        let late = people.iter().filter(|c| c.registered >= mid).count();
        assert!(late > 12_000, "late registrations {late}");
    }
}
