//! The path scipy's L-BFGS-B (`scipy.optimize.minimize(method='L-BFGS-B')`, the C translation
//! of L-BFGS-B 3.0 in scipy 1.15 and later) takes on an unconstrained problem, step for step,
//! with scikit-learn's settings for Platt scaling: memory 10, `gtol` 1e-6 (the projected
//! gradient's largest component), `ftol` 64 eps (relative reduction of f), 20 line-search
//! steps at most. Platt's objective stops that far from its exact optimum (a few 1e-9 in p on
//! a few hundred rows), so matching scikit-learn to 1e-9 means stopping where it stops.
//!
//! Without bounds L-BFGS-B reduces to: a first step along -g scaled to length 1, then the
//! L-BFGS direction (the compact form it uses and the two-loop recursion here give the same
//! vector up to rounding), the Moré-Thuente line search (MINPACK-2 `dcsrch`/`dcstep`, ftol
//! 1e-3, gtol 0.9, xtol 0.1), the curvature check before each update, and a restart with an
//! empty memory when a line search fails.

/// Settings scikit-learn's `_sigmoid_calibration` passes, and L-BFGS-B's own.
const MEMORY: usize = 10;
const PGTOL: f64 = 1e-6;
const FACTR_TOL: f64 = 64.0 * f64::EPSILON;
const MAX_LINE_SEARCH: usize = 20;
const MAX_ITERATIONS: usize = 15_000;
const STPMAX: f64 = 1e10;

/// Minimises `fg` (value and gradient) from `x0`; returns where L-BFGS-B stops.
pub fn minimize<F>(mut fg: F, x0: [f64; 2]) -> [f64; 2]
where
    F: FnMut([f64; 2]) -> (f64, [f64; 2]),
{
    let mut x = x0;
    let (mut f, mut g) = fg(x);
    if norm_inf(g) <= PGTOL {
        return x;
    }
    let mut memory: Vec<([f64; 2], [f64; 2])> = Vec::new(); // (s, y), oldest first
    let mut iteration = 0usize;
    while iteration < MAX_ITERATIONS {
        // The search direction, through z as L-BFGS-B forms it (d = z - x, not the raw vector).
        let z = if memory.is_empty() {
            // Generalized Cauchy point with B = I: x - g.
            [x[0] + -g[0], x[1] + -g[1]]
        } else {
            let step = two_loop(&memory, g);
            [x[0] + step[0], x[1] + step[1]]
        };
        let d = [z[0] - x[0], z[1] - x[1]];
        let dnorm = dot(d, d).sqrt();
        let mut stp = if iteration == 0 {
            (1.0 / dnorm).min(STPMAX)
        } else {
            1.0
        };
        let (x_old, g_old, f_old) = (x, g, f);
        let gd_old = dot(g, d);
        let mut search = LineSearch::start(f, gd_old, stp, STPMAX);
        let mut evaluations = 0usize;
        let accepted = if gd_old >= 0.0 {
            false // not a descent direction: a failed line search
        } else {
            loop {
                x = if stp == 1.0 {
                    z
                } else {
                    [stp * d[0] + x_old[0], stp * d[1] + x_old[1]]
                };
                (f, g) = fg(x);
                evaluations += 1;
                let gd = dot(g, d);
                match search.next(f, gd, &mut stp) {
                    Some(()) => {
                        if evaluations >= MAX_LINE_SEARCH {
                            break false;
                        }
                    }
                    None => break true,
                }
            }
        };
        if !accepted {
            // Back to the previous iterate; restart with an empty memory, or stop.
            x = x_old;
            g = g_old;
            f = f_old;
            if memory.is_empty() {
                return x;
            }
            memory.clear();
            continue;
        }
        iteration += 1;
        if norm_inf(g) <= PGTOL {
            return x;
        }
        if f_old - f <= FACTR_TOL * f_old.abs().max(f.abs()).max(1.0) {
            return x;
        }
        let y = [g[0] - g_old[0], g[1] - g_old[1]];
        let gd = dot(g, d);
        let (dr, ddum, s) = if stp == 1.0 {
            (gd - gd_old, -gd_old, d)
        } else {
            ((gd - gd_old) * stp, -gd_old * stp, [stp * d[0], stp * d[1]])
        };
        // The curvature check of L-BFGS-B: skip the update when y's is not safely positive.
        if dr <= f64::EPSILON * ddum {
            continue;
        }
        if memory.len() == MEMORY {
            memory.remove(0);
        }
        memory.push((s, y));
    }
    x
}

fn dot(a: [f64; 2], b: [f64; 2]) -> f64 {
    a[0] * b[0] + a[1] * b[1]
}

fn norm_inf(g: [f64; 2]) -> f64 {
    g[0].abs().max(g[1].abs())
}

/// -H g with H the L-BFGS inverse Hessian, H0 = (s'y / y'y) I of the latest pair.
fn two_loop(memory: &[([f64; 2], [f64; 2])], g: [f64; 2]) -> [f64; 2] {
    let mut q = g;
    let mut alpha = vec![0.0; memory.len()];
    for (i, (s, y)) in memory.iter().enumerate().rev() {
        let rho = 1.0 / dot(*y, *s);
        alpha[i] = rho * dot(*s, q);
        q = [q[0] - alpha[i] * y[0], q[1] - alpha[i] * y[1]];
    }
    let (s, y) = memory[memory.len() - 1];
    let gamma = dot(s, y) / dot(y, y);
    let mut r = [gamma * q[0], gamma * q[1]];
    for (i, (s, y)) in memory.iter().enumerate() {
        let rho = 1.0 / dot(*y, *s);
        let beta = rho * dot(*y, r);
        r = [
            r[0] + s[0] * (alpha[i] - beta),
            r[1] + s[1] * (alpha[i] - beta),
        ];
    }
    [-r[0], -r[1]]
}

/// MINPACK-2's `dcsrch` with L-BFGS-B's parameters, one function value at a time.
struct LineSearch {
    brackt: bool,
    stage: u8,
    finit: f64,
    ginit: f64,
    gtest: f64,
    width: f64,
    width1: f64,
    stx: f64,
    fx: f64,
    gx: f64,
    sty: f64,
    fy: f64,
    gy: f64,
    stmin: f64,
    stmax: f64,
    stpmax: f64,
}

const FTOL: f64 = 1e-3;
const GTOL: f64 = 0.9;
const XTOL: f64 = 0.1;
const STPMIN: f64 = 0.0;

impl LineSearch {
    fn start(f: f64, g: f64, stp: f64, stpmax: f64) -> Self {
        let width = stpmax - STPMIN;
        LineSearch {
            brackt: false,
            stage: 1,
            finit: f,
            ginit: g,
            gtest: FTOL * g,
            width,
            width1: width / 0.5,
            stx: 0.0,
            fx: f,
            gx: g,
            sty: 0.0,
            fy: f,
            gy: g,
            stmin: 0.0,
            stmax: stp + 4.0 * stp,
            stpmax,
        }
    }

    /// Given f and its directional derivative g at `stp`: None when the search ends there
    /// (convergence or a warning, both accept the point), else the next `stp`.
    fn next(&mut self, f: f64, g: f64, stp: &mut f64) -> Option<()> {
        let ftest = self.finit + *stp * self.gtest;
        if self.stage == 1 && f <= ftest && g >= 0.0 {
            self.stage = 2;
        }
        let warn = (self.brackt
            && (*stp <= self.stmin
                || *stp >= self.stmax
                || self.stmax - self.stmin <= XTOL * self.stmax))
            || (*stp == self.stpmax && f <= ftest && g <= self.gtest)
            || (*stp == STPMIN && (f > ftest || g >= self.gtest));
        let converged = f <= ftest && g.abs() <= GTOL * (-self.ginit);
        if warn || converged {
            return None;
        }
        if self.stage == 1 && f <= self.fx && f > ftest {
            let gtest = self.gtest;
            let mut fxm = self.fx - self.stx * gtest;
            let mut fym = self.fy - self.sty * gtest;
            let mut gxm = self.gx - gtest;
            let mut gym = self.gy - gtest;
            let fm = f - *stp * gtest;
            let gm = g - gtest;
            dcstep(
                &mut self.stx,
                &mut fxm,
                &mut gxm,
                &mut self.sty,
                &mut fym,
                &mut gym,
                stp,
                fm,
                gm,
                &mut self.brackt,
                self.stmin,
                self.stmax,
            );
            self.fx = fxm + self.stx * gtest;
            self.fy = fym + self.sty * gtest;
            self.gx = gxm + gtest;
            self.gy = gym + gtest;
        } else {
            dcstep(
                &mut self.stx,
                &mut self.fx,
                &mut self.gx,
                &mut self.sty,
                &mut self.fy,
                &mut self.gy,
                stp,
                f,
                g,
                &mut self.brackt,
                self.stmin,
                self.stmax,
            );
        }
        if self.brackt {
            if (self.sty - self.stx).abs() >= 0.66 * self.width1 {
                *stp = self.stx + 0.5 * (self.sty - self.stx);
            }
            self.width1 = self.width;
            self.width = (self.sty - self.stx).abs();
            self.stmin = self.stx.min(self.sty);
            self.stmax = self.stx.max(self.sty);
        } else {
            self.stmin = *stp + 1.1 * (*stp - self.stx);
            self.stmax = *stp + 4.0 * (*stp - self.stx);
        }
        *stp = stp.max(STPMIN).min(self.stpmax);
        if self.brackt
            && (*stp <= self.stmin
                || *stp >= self.stmax
                || self.stmax - self.stmin <= XTOL * self.stmax)
        {
            *stp = self.stx;
        }
        Some(())
    }
}

/// MINPACK-2's `dcstep`: the safeguarded cubic/quadratic step and the new bracket.
#[allow(clippy::too_many_arguments)]
fn dcstep(
    stx: &mut f64,
    fx: &mut f64,
    dx: &mut f64,
    sty: &mut f64,
    fy: &mut f64,
    dy: &mut f64,
    stp: &mut f64,
    fp: f64,
    dp: f64,
    brackt: &mut bool,
    stpmin: f64,
    stpmax: f64,
) {
    let sgnd = dp * (*dx / dx.abs());
    let stpf;
    if fp > *fx {
        let theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        let s = theta.abs().max(dx.abs()).max(dp.abs());
        let mut gamma = s * ((theta / s).powi(2) - (*dx / s) * (dp / s)).sqrt();
        if *stp < *stx {
            gamma = -gamma;
        }
        let p = (gamma - *dx) + theta;
        let q = ((gamma - *dx) + gamma) + dp;
        let r = p / q;
        let stpc = *stx + r * (*stp - *stx);
        let stpq = *stx + ((*dx / ((*fx - fp) / (*stp - *stx) + *dx)) / 2.0) * (*stp - *stx);
        stpf = if (stpc - *stx).abs() < (stpq - *stx).abs() {
            stpc
        } else {
            stpc + (stpq - stpc) / 2.0
        };
        *brackt = true;
    } else if sgnd < 0.0 {
        let theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        let s = theta.abs().max(dx.abs()).max(dp.abs());
        let mut gamma = s * ((theta / s).powi(2) - (*dx / s) * (dp / s)).sqrt();
        if *stp > *stx {
            gamma = -gamma;
        }
        let p = (gamma - dp) + theta;
        let q = ((gamma - dp) + gamma) + *dx;
        let r = p / q;
        let stpc = *stp + r * (*stx - *stp);
        let stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        stpf = if (stpc - *stp).abs() > (stpq - *stp).abs() {
            stpc
        } else {
            stpq
        };
        *brackt = true;
    } else if dp.abs() < dx.abs() {
        let theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        let s = theta.abs().max(dx.abs()).max(dp.abs());
        let mut gamma = s * (0.0f64.max((theta / s).powi(2) - (*dx / s) * (dp / s))).sqrt();
        if *stp > *stx {
            gamma = -gamma;
        }
        let p = (gamma - dp) + theta;
        let q = (gamma + (*dx - dp)) + gamma;
        let r = p / q;
        let stpc = if r < 0.0 && gamma != 0.0 {
            *stp + r * (*stx - *stp)
        } else if *stp > *stx {
            stpmax
        } else {
            stpmin
        };
        let stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        if *brackt {
            let mut f = if (stpc - *stp).abs() < (stpq - *stp).abs() {
                stpc
            } else {
                stpq
            };
            f = if *stp > *stx {
                (*stp + 0.66 * (*sty - *stp)).min(f)
            } else {
                (*stp + 0.66 * (*sty - *stp)).max(f)
            };
            stpf = f;
        } else {
            let f = if (stpc - *stp).abs() > (stpq - *stp).abs() {
                stpc
            } else {
                stpq
            };
            stpf = stpmax.min(f).max(stpmin);
        }
    } else if *brackt {
        let theta = 3.0 * (fp - *fy) / (*sty - *stp) + *dy + dp;
        let s = theta.abs().max(dy.abs()).max(dp.abs());
        let mut gamma = s * ((theta / s).powi(2) - (*dy / s) * (dp / s)).sqrt();
        if *stp > *sty {
            gamma = -gamma;
        }
        let p = (gamma - dp) + theta;
        let q = ((gamma - dp) + gamma) + *dy;
        let r = p / q;
        stpf = *stp + r * (*sty - *stp);
    } else if *stp > *stx {
        stpf = stpmax;
    } else {
        stpf = stpmin;
    }
    if fp > *fx {
        *sty = *stp;
        *fy = fp;
        *dy = dp;
    } else {
        if sgnd < 0.0 {
            *sty = *stx;
            *fy = *fx;
            *dy = *dx;
        }
        *stx = *stp;
        *fx = fp;
        *dx = dp;
    }
    *stp = stpf;
}
