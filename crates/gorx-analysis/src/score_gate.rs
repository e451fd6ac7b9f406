//! The canary gate over live GC scores: a floor, derived from a baseline window when one
//! is given, and an intervention after N consecutive samples below it.
//!
//! **The floor.** Without a baseline the floor is the absolute one (`--min`, default
//! [`t::GATE_DEFAULT_FLOOR`]). With a baseline window of scores, the floor is
//! `max(absolute floor, median − noise)`, where `noise = max(3 × 1.4826 × MAD, 10)`
//! points: a service that scores 95 steadily is stopped when it falls to 84, not only at
//! 59, while one that jitters between 70 and 90 is not stopped by its own jitter. Median
//! and MAD (not mean and standard deviation) so one odd sample in the baseline (a forced
//! GC during start-up) moves neither.
//!
//! **The intervention.** A sample below the floor counts; a sample at or above resets the
//! count; the gate trips at the N-th consecutive sample below ([`t::GATE_DEFAULT_FAILURES`]).
//! A sample that could not be read (the endpoint timed out) neither counts nor resets.

use crate::thresholds as t;
use serde::Serialize;

/// The floor a baseline window gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Baseline {
    pub samples: usize,
    pub median: f64,
    /// Robust spread: 1.4826 × the median absolute deviation.
    pub sigma: f64,
    /// The margin under the median: max(3 σ, 10 points).
    pub noise: f64,
    /// The absolute floor it may not go under.
    pub min: u32,
    /// max(min, ⌊median − noise⌋).
    pub floor: u32,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The floor of a baseline window of scores; an error when it has too few samples.
pub fn baseline(scores: &[u32], min: u32) -> Result<Baseline, String> {
    if scores.len() < t::GATE_BASELINE_MIN_SAMPLES {
        return Err(format!(
            "the baseline window gave {} score(s), {} needed to estimate its noise: lengthen --baseline or shorten --watch",
            scores.len(),
            t::GATE_BASELINE_MIN_SAMPLES
        ));
    }
    let mut v: Vec<f64> = scores.iter().map(|&s| f64::from(s)).collect();
    let m = median(&mut v);
    let mut dev: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    let sigma = 1.4826 * median(&mut dev);
    let noise = (t::GATE_BASELINE_NOISE_SIGMAS * sigma).max(t::GATE_BASELINE_MIN_NOISE_POINTS);
    let floor = ((m - noise).floor().max(0.0) as u32).max(min);
    Ok(Baseline {
        samples: scores.len(),
        median: m,
        sigma: (sigma * 10.0).round() / 10.0,
        noise: (noise * 10.0).round() / 10.0,
        min,
        floor,
    })
}

/// Where the gate stands after a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum GateState {
    Pass,
    /// Below the floor, `consecutive` of `needed` in a row.
    Below {
        consecutive: u32,
        needed: u32,
    },
    /// `needed` consecutive samples below the floor: intervene.
    Tripped {
        consecutive: u32,
    },
}

/// The gate: a floor and a count of consecutive failures.
#[derive(Debug, Clone)]
pub struct Gate {
    pub floor: u32,
    pub needed: u32,
    below: u32,
}

impl Gate {
    pub fn new(floor: u32, needed: u32) -> Gate {
        Gate {
            floor,
            needed: needed.max(1),
            below: 0,
        }
    }

    /// One sample's score; `None` when the sample could not be read.
    pub fn observe(&mut self, score: Option<u32>) -> GateState {
        match score {
            Some(s) if s >= self.floor => self.below = 0,
            Some(_) => self.below += 1,
            None => {}
        }
        if self.below >= self.needed {
            GateState::Tripped {
                consecutive: self.below,
            }
        } else if self.below > 0 {
            GateState::Below {
                consecutive: self.below,
                needed: self.needed,
            }
        } else {
            GateState::Pass
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_baseline_floors_ten_points_under_its_median() {
        let b = baseline(&[95, 96, 95, 94, 95, 95], 60).unwrap();
        assert_eq!(b.median, 95.0);
        assert_eq!(b.noise, 10.0);
        assert_eq!(b.floor, 85);
        // A noisy baseline gets a wider margin, and the absolute floor holds.
        let noisy = baseline(&[70, 90, 80, 75, 88, 72, 85], 60).unwrap();
        assert!(noisy.noise > 10.0, "{noisy:?}");
        assert_eq!(noisy.floor, 60);
        // One odd sample moves neither the median nor the MAD much.
        let odd = baseline(&[95, 96, 95, 20, 95, 95], 60).unwrap();
        assert_eq!(odd.floor, 85);
        assert!(baseline(&[90, 90], 60).unwrap_err().contains("2 score(s)"));
    }

    #[test]
    fn the_gate_trips_on_the_third_consecutive_sample_below() {
        let mut g = Gate::new(85, 3);
        let states: Vec<GateState> = [96, 80, 97, 80, 79, 78, 99]
            .into_iter()
            .map(|s| g.observe(Some(s)))
            .collect();
        assert_eq!(states[0], GateState::Pass);
        assert_eq!(
            states[1],
            GateState::Below {
                consecutive: 1,
                needed: 3
            }
        );
        // A sample at or above the floor resets the count.
        assert_eq!(states[2], GateState::Pass);
        assert_eq!(
            states[4],
            GateState::Below {
                consecutive: 2,
                needed: 3
            }
        );
        assert_eq!(states[5], GateState::Tripped { consecutive: 3 });
        // An unreadable sample neither counts nor resets.
        let mut g = Gate::new(60, 3);
        g.observe(Some(10));
        g.observe(Some(10));
        assert_eq!(
            g.observe(None),
            GateState::Below {
                consecutive: 2,
                needed: 3
            }
        );
        assert_eq!(g.observe(Some(10)), GateState::Tripped { consecutive: 3 });
    }
}
