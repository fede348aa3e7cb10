//! Shared test helpers: the CDNOW fixture and a seeded BG/NBD + Gamma-Gamma
//! simulator.

use ltv_pipes::forecast::Triples;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Exp, Gamma};

/// One CDNOW customer of the calibration period (to 1997-09-30), in weeks.
#[derive(Debug, Clone, Copy)]
pub struct Customer {
    pub id: u32,
    pub x: u32,
    pub t_x: f64,
    pub t: f64,
    pub m: f64,
}

/// tests/fixtures/cdnow_summary_with_monetary.csv is a verbatim copy of
/// `lifetimes/datasets/cdnow_customers_summary_with_transactions.csv` from
/// the lifetimes 0.11.3 wheel: the 2,357 CDNOW sample customers (Fader &
/// Hardie's summary: x, t_x, T in weeks, zbar = mean value of the repeat
/// purchases). Its x, t_x, T equal the wheel's `cdnow_customers_summary.csv`
/// row for row (checked when it was copied).
pub fn cdnow() -> Vec<Customer> {
    let text = include_str!("fixtures/cdnow_summary_with_monetary.csv");
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            Customer {
                id: f[0].parse().unwrap(),
                x: f[1].parse().unwrap(),
                t_x: f[2].parse().unwrap(),
                t: f[3].parse().unwrap(),
                m: f[4].parse().unwrap(),
            }
        })
        .collect()
}

pub fn cdnow_triples() -> Triples {
    Triples::from_customers(cdnow().iter().map(|c| (c.x, c.t_x, c.t, c.m))).unwrap()
}

/// Parameters of a simulated population.
#[derive(Debug, Clone, Copy)]
pub struct Population {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

/// Simulates `n` customers; T is uniform on [t_min, t_max]. With `daily`,
/// times are floored to whole days as a daily rollup would report them
/// (repeat purchases landing on the same day are then not merged, which the
/// real pipeline would do; fine for a timing test, not for recovery).
///
/// BG/NBD as in the paper: purchases at Poisson rate λ ~ Gamma(r, rate α);
/// after each repeat purchase the customer leaves with probability
/// p ~ Beta(a, b). Spend: ν ~ Gamma(q, rate γ), each repeat purchase's value
/// ~ Gamma(p, rate ν), m̄ their mean.
pub fn simulate(
    pop: Population,
    n: usize,
    t_min: f64,
    t_max: f64,
    daily: bool,
    seed: u64,
) -> Vec<(u32, f64, f64, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rate = Gamma::new(pop.r, 1.0 / pop.alpha).unwrap();
    let drop = Beta::new(pop.a, pop.b).unwrap();
    let nu_dist = Gamma::new(pop.q, 1.0 / pop.gamma).unwrap();
    (0..n)
        .map(|_| {
            let lambda: f64 = rate.sample(&mut rng);
            let p_drop: f64 = drop.sample(&mut rng);
            let mut big_t = rng.random_range(t_min..=t_max);
            let wait = Exp::new(lambda).unwrap();
            let (mut now, mut x, mut t_x) = (0.0, 0u32, 0.0);
            loop {
                now += wait.sample(&mut rng);
                if now > big_t {
                    break;
                }
                x += 1;
                t_x = now;
                if rng.random::<f64>() < p_drop {
                    break;
                }
            }
            let m = if x > 0 {
                let nu: f64 = nu_dist.sample(&mut rng);
                let value = Gamma::new(pop.p, 1.0 / nu).unwrap();
                (0..x).map(|_| value.sample(&mut rng)).sum::<f64>() / x as f64
            } else {
                0.0
            };
            if daily {
                big_t = big_t.floor();
                t_x = t_x.floor();
            }
            (x, t_x, big_t, m)
        })
        .collect()
}
