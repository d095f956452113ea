// inference/queueing.h: DeInfer's queueing bound: the largest per-item service time that keeps a
// model's mean response time within half its SLO at a given arrival rate, and its inverse.
//
// The model (../shared/reference/dynwork-deinfer.md B.3): requests arrive as a Poisson process
// of rate λ; a server handles them one item after another in a deterministic time D each (an
// M/D/1 queue; a batch of b items taking T counts as b items of D = T/b each). The
// Pollaczek-Khintchine formula with Var[D] = 0 gives the mean sojourn (wait + service) time
//
//   W(λ, D) = D + λD² / (2(1 − λD)),   for ρ = λD < 1.
//
// DeInfer asks for W ≤ S/2 (S: the SLO), leaving the other half of the SLO to the batch being
// filled and to the spread around the mean. W = S/2 is the quadratic λD² − (2 + λS)D + S = 0,
// whose smaller root is the bound
//
//   MaxD(λ, S) = (λS + 2 − √(λ²S² + 4)) / (2λ)  =  2S / (λS + 2 + √(λ²S² + 4)).
//
// The second form is the same number (multiply by the conjugate) without the cancellation of
// the first at large λS, and is finite at λ = 0. Limits: λ → 0 gives S/2 (no queue: an item alone
// must fit half the SLO); λ → ∞ gives 1/λ (ρ → 1). ρ at the bound depends only on λS
// (λS = 5: ρ = 0.8074; λS = 100: ρ = 0.9900).
//
// The inverse solves the same quadratic for λ: the largest rate at which items of time D still
// meet the SLO,
//
//   MaxRate(D, S) = (2D − S) / (D² − DS)  =  (S − 2D) / (D(S − D)),   for 0 < D < S/2;
//
// it falls from ∞ at D → 0 to 0 at D = S/2, and no rate is served at D ≥ S/2. For 0 < D ≤ S/2,
// MaxD(MaxRate(D, S), S) = D, and MaxRate(MaxD(λ, S), S) = λ for λ > 0.
//
// Units: rates in requests per second, times in milliseconds (converted inside).
#pragma once

namespace repipe {

// W(λ, D): the M/D/1 mean sojourn time, ms; +∞ when ρ = λD ≥ 1. rate_per_s >= 0, item_ms > 0.
double md1_sojourn_ms(double rate_per_s, double item_ms);

// The M/D/1 mean number of items waiting (not in service), ρ² / (2(1 − ρ)); +∞ for ρ ≥ 1. Half
// the M/M/1 value ρ²/(1 − ρ) that DeInfer's code uses as its queue limit.
double md1_mean_queue_length(double utilisation);

// MaxD(λ, S), ms: the largest per-item time meeting W ≤ S/2. rate_per_s >= 0, slo_ms > 0.
double max_item_time_ms(double rate_per_s, double slo_ms);

// MaxRate(D, S), requests/s: the largest arrival rate at which items of D ms meet W ≤ S/2;
// +∞ for D <= 0, 0 for D >= S/2.
double max_rate_per_s(double item_ms, double slo_ms);

}  // namespace repipe
