//! A small BFGS minimiser for smooth objectives of a few (log-)parameters.
//!
//! Own code rather than `argmin`: the problems have 3 or 4 parameters, the
//! gradient is analytic, and owning the loop lets the fit report say exactly
//! why it stopped. Fixed-size arrays keep the loop free of allocation.
//!
//! Line search: backtracking with the Armijo condition and safeguarded
//! quadratic interpolation. Wolfe's curvature condition is not enforced;
//! instead the inverse-Hessian update is skipped whenever sᵀy <= 0, which
//! keeps it positive definite.

/// Stopping rules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub max_iterations: usize,
    /// Converged when every |∂f/∂θᵢ| is at most this.
    pub gradient_tolerance: f64,
}

/// Where and why the minimiser stopped.
#[derive(Debug, Clone)]
pub(crate) struct Outcome<const N: usize> {
    pub x: [f64; N],
    pub f: f64,
    pub iterations: usize,
    pub converged: bool,
    pub message: String,
}

/// Largest change of any log-parameter in one step (e² ≈ 7.4×): keeps the
/// first, unscaled steps from jumping to where the likelihood overflows.
const MAX_STEP: f64 = 2.0;
/// Armijo sufficient-decrease constant.
const C1: f64 = 1e-4;
/// When the line search can no longer decrease f, a gradient this small
/// still counts as converged: the optimum is found to floating-point noise.
const STALL_GRADIENT: f64 = 1e-6;
/// Relative changes of f below this are treated as rounding noise.
const F_NOISE: f64 = 1e-12;

fn dot<const N: usize>(u: &[f64; N], v: &[f64; N]) -> f64 {
    u.iter().zip(v).map(|(a, b)| a * b).sum()
}

fn inf_norm<const N: usize>(v: &[f64; N]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

fn identity<const N: usize>() -> [[f64; N]; N] {
    let mut h = [[0.0; N]; N];
    for (i, row) in h.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    h
}

/// Minimises `f`, which returns the objective and writes its gradient.
/// Non-finite values are treated as "too far" by the line search.
pub(crate) fn minimize<const N: usize, F>(mut f: F, x0: [f64; N], s: Settings) -> Outcome<N>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    let mut x = x0;
    let mut g = [0.0; N];
    let mut fx = f(&x, &mut g);
    let stop = |x, f, it, ok, msg: String| Outcome {
        x,
        f,
        iterations: it,
        converged: ok,
        message: msg,
    };
    if !fx.is_finite() || !g.iter().all(|v| v.is_finite()) {
        return stop(
            x,
            fx,
            0,
            false,
            "objective not finite at the starting point".into(),
        );
    }
    let mut h = identity::<N>();
    let mut fresh = true; // h is the identity: rescale it after the first step
    for it in 0..s.max_iterations {
        if inf_norm(&g) <= s.gradient_tolerance {
            return stop(
                x,
                fx,
                it,
                true,
                format!("gradient below {:e}", s.gradient_tolerance),
            );
        }
        let mut p = [0.0; N];
        for i in 0..N {
            p[i] = -dot(&h[i], &g);
        }
        if dot(&p, &g) >= 0.0 {
            // Not a descent direction (rounding): restart from steepest descent.
            h = identity();
            fresh = true;
            p = g.map(|v| -v);
        }
        let cap = MAX_STEP / inf_norm(&p);
        if cap < 1.0 {
            p = p.map(|v| v * cap);
        }
        let Some((xn, fxn, gn)) = line_search(&mut f, &x, fx, &g, &p) else {
            let gn = inf_norm(&g);
            if !fresh && gn > STALL_GRADIENT {
                // A stale inverse Hessian may point badly: retry once along −g.
                h = identity();
                fresh = true;
                continue;
            }
            let ok = gn <= STALL_GRADIENT;
            let msg = format!("line search cannot decrease the objective; max |gradient| = {gn:e}");
            return stop(x, fx, it, ok, msg);
        };
        let sv: [f64; N] = std::array::from_fn(|i| xn[i] - x[i]);
        let yv: [f64; N] = std::array::from_fn(|i| gn[i] - g[i]);
        let sy = dot(&sv, &yv);
        if sy > 1e-12 * dot(&sv, &sv).sqrt() * dot(&yv, &yv).sqrt() {
            if fresh {
                // Nocedal & Wright (6.20): scale the first guess of the inverse Hessian.
                let scale = sy / dot(&yv, &yv);
                h = identity::<N>().map(|r| r.map(|v| v * scale));
                fresh = false;
            }
            bfgs_update(&mut h, &sv, &yv, sy);
        }
        x = xn;
        fx = fxn;
        g = gn;
    }
    let ok = inf_norm(&g) <= s.gradient_tolerance;
    let msg = format!(
        "iteration limit {} reached; max |gradient| = {:e}",
        s.max_iterations,
        inf_norm(&g)
    );
    stop(x, fx, s.max_iterations, ok, msg)
}

/// H ← (I − ρsyᵀ) H (I − ρysᵀ) + ρssᵀ with ρ = 1/sᵀy.
fn bfgs_update<const N: usize>(h: &mut [[f64; N]; N], s: &[f64; N], y: &[f64; N], sy: f64) {
    let rho = 1.0 / sy;
    let hy: [f64; N] = std::array::from_fn(|i| dot(&h[i], y));
    let yhy = dot(y, &hy);
    for i in 0..N {
        for j in 0..N {
            h[i][j] += rho * ((1.0 + rho * yhy) * s[i] * s[j] - hy[i] * s[j] - s[i] * hy[j]);
        }
    }
}

/// Backtracking from the full step; returns the accepted point, its value
/// and gradient, or None after 40 reductions (step below 1e-12: nothing
/// to gain).
fn line_search<const N: usize, F>(
    f: &mut F,
    x: &[f64; N],
    fx: f64,
    g: &[f64; N],
    p: &[f64; N],
) -> Option<([f64; N], f64, [f64; N])>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    let slope = dot(g, p);
    let mut t = 1.0;
    let mut gn = [0.0; N];
    for _ in 0..40 {
        let xn: [f64; N] = std::array::from_fn(|i| x[i] + t * p[i]);
        let fxn = f(&xn, &mut gn);
        let finite = fxn.is_finite() && gn.iter().all(|v| v.is_finite());
        // Armijo with a strict decrease: near the optimum C1·t·slope can
        // vanish against f's magnitude, and a step that gains nothing must
        // not count.
        let armijo = fxn <= fx + C1 * t * slope && fxn < fx;
        // Hager & Zhang's approximate Wolfe condition: once the decrease is
        // below what f can resolve (a sum over a million customers), the
        // directional derivative still shows progress. Without it BFGS stalls
        // at |gradient| ~ 1e-8 on large data.
        let noise = fxn <= fx + F_NOISE * fx.abs();
        let d = dot(&gn, p);
        let approx_wolfe = noise && d >= 0.9 * slope && d <= -0.8 * slope;
        if finite && (armijo || approx_wolfe) {
            return Some((xn, fxn, gn));
        }
        // Minimiser of the quadratic through f(0), f'(0) and f(t), kept in
        // [0.1t, 0.5t] so that the step neither stalls nor barely shrinks.
        let quad = if fxn.is_finite() {
            -slope * t * t / (2.0 * (fxn - fx - slope * t))
        } else {
            0.1 * t
        };
        t = quad.clamp(0.1 * t, 0.5 * t);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rosenbrock_minimum() {
        let rosen = |v: &[f64; 2], g: &mut [f64; 2]| {
            let (a, b) = (v[0], v[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        };
        let s = Settings {
            max_iterations: 500,
            gradient_tolerance: 1e-10,
        };
        let out = minimize(rosen, [-1.2, 1.0], s);
        assert!(out.converged, "{}", out.message);
        assert!(
            (out.x[0] - 1.0).abs() < 1e-8 && (out.x[1] - 1.0).abs() < 1e-8,
            "{:?}",
            out.x
        );
    }

    #[test]
    fn reports_a_non_finite_start() {
        let s = Settings {
            max_iterations: 10,
            gradient_tolerance: 1e-10,
        };
        let out = minimize(|_: &[f64; 1], _: &mut [f64; 1]| f64::NAN, [0.0], s);
        assert!(!out.converged);
        assert_eq!(out.iterations, 0);
    }
}
