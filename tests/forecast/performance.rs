//! Timing of a 1,000,000-customer fit. Ignored by default; run with
//! `cargo test --release --test performance -- --ignored --nocapture`.

use std::time::Instant;

use crate::common::{simulate, Population};
use ltv_pipes::forecast::{fit_bgnbd, fit_gamma_gamma, FitOptions, Triples};

#[test]
#[ignore = "slow in debug builds; run with --release -- --ignored"]
fn fits_a_million_customers_in_seconds() {
    // Daily periods, customers acquired over ~3 years, times floored to days
    // as the daily rollups report them.
    let pop = Population {
        r: 0.6,
        alpha: 20.0,
        a: 0.8,
        b: 2.5,
        p: 6.0,
        q: 4.0,
        gamma: 15.0,
    };
    let customers = simulate(pop, 1_000_000, 1.0, 1095.0, true, 42);

    let t0 = Instant::now();
    let data = Triples::from_customers(customers).unwrap();
    let t_group = t0.elapsed();

    let t1 = Instant::now();
    let bg = fit_bgnbd(&data, &FitOptions::default()).unwrap();
    let t_bg = t1.elapsed();

    let t2 = Instant::now();
    let gg = fit_gamma_gamma(&data, &FitOptions::default()).unwrap();
    let t_gg = t2.elapsed();

    println!(
        "1M customers: grouping {:.3}s -> {} unique (x, t_x, T) triples; BG/NBD fit {:.3}s \
         ({} iterations, converged {}, {:?}); Gamma-Gamma fit {:.3}s on {} unique (x, m) pairs \
         ({} iterations, {:?})",
        t_group.as_secs_f64(),
        data.n_unique(),
        t_bg.as_secs_f64(),
        bg.iterations,
        bg.converged,
        bg.params,
        t_gg.as_secs_f64(),
        data.n_unique_spend(),
        gg.iterations,
        gg.params,
    );
    assert!(bg.converged && gg.converged);
    assert!(t_bg.as_secs_f64() < 30.0, "BG/NBD fit took {t_bg:?}");
}
