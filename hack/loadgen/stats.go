package main

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// maxErrorKinds bounds the distinct error kinds a worker tracks; later new
// kinds are counted as "other".
const maxErrorKinds = 16

// recorder is one worker's tally; only that worker touches it, and the
// scenario merges them when every worker is done.
type recorder struct {
	requests  int
	successes int
	kinds     map[string]int
	// samples is a uniform reservoir of successful-request latencies; seen is
	// how many were offered to it.
	samples  []time.Duration
	seen     int
	cap      int
	min, max time.Duration
	sum      time.Duration
}

func newRecorder(capacity int) *recorder {
	return &recorder{kinds: map[string]int{}, cap: max(capacity, 1)}
}

// record counts one finished request; kind is "" for a success.
func (r *recorder) record(d time.Duration, kind string) {
	r.requests++
	if kind != "" {
		r.addKind(kind, 1)
		return
	}
	r.successes++
	r.sum += d
	if r.successes == 1 || d < r.min {
		r.min = d
	}
	r.max = max(r.max, d)
	r.seen++
	if len(r.samples) < r.cap {
		r.samples = append(r.samples, d)
		return
	}
	// Algorithm R: keep the new sample with probability cap/seen.
	if j := rand.IntN(r.seen); j < r.cap {
		r.samples[j] = d
	}
}

func (r *recorder) addKind(kind string, n int) {
	if _, ok := r.kinds[kind]; !ok && len(r.kinds) >= maxErrorKinds {
		kind = "other"
	}
	r.kinds[kind] += n
}

// ErrorKind is one kind of failure and how often it happened.
type ErrorKind struct {
	Kind  string `json:"kind"`
	Count int    `json:"count"`
}

// Latency summarizes the latencies of successful requests.
type Latency struct {
	P50  time.Duration
	P90  time.Duration
	P99  time.Duration
	Max  time.Duration
	Min  time.Duration
	Mean time.Duration
	// Samples is how many latencies the percentiles come from; Exact is true
	// when that is every successful request.
	Samples int
	Exact   bool
}

// merge combines the workers' tallies. When no reservoir overflowed the
// percentiles are exact; otherwise each worker contributes samples in
// proportion to its request count, which keeps the merged sample uniform.
func merge(recs []*recorder) (requests, successes int, kinds []ErrorKind, lat Latency) {
	kindCount := map[string]int{}
	var all []time.Duration
	exact := true
	ratio := 1.0
	var sum time.Duration
	first := true
	for _, r := range recs {
		requests += r.requests
		successes += r.successes
		for k, n := range r.kinds {
			kindCount[k] += n
		}
		if r.successes == 0 {
			continue
		}
		sum += r.sum
		if first || r.min < lat.Min {
			lat.Min = r.min
		}
		first = false
		lat.Max = max(lat.Max, r.max)
		if len(r.samples) < r.seen {
			exact = false
			ratio = min(ratio, float64(len(r.samples))/float64(r.seen))
		}
	}
	for _, r := range recs {
		if exact {
			all = append(all, r.samples...)
			continue
		}
		n := min(len(r.samples), int(math.Floor(float64(r.seen)*ratio)))
		s := slices.Clone(r.samples)
		rand.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
		all = append(all, s[:n]...)
	}
	for k, n := range kindCount {
		kinds = append(kinds, ErrorKind{Kind: k, Count: n})
	}
	slices.SortFunc(kinds, func(a, b ErrorKind) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Kind, b.Kind)
	})
	slices.Sort(all)
	lat.P50 = percentile(all, 50)
	lat.P90 = percentile(all, 90)
	lat.P99 = percentile(all, 99)
	lat.Samples = len(all)
	lat.Exact = exact
	if successes > 0 {
		lat.Mean = sum / time.Duration(successes)
	}
	return requests, successes, kinds, lat
}

// percentile is the nearest-rank percentile of sorted: the smallest value
// such that at least p% of the values are less than or equal to it.
// p is a whole percentage, so the rank is computed in integers.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}
