package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// tableKinds is how many error kinds the table shows per scenario.
const tableKinds = 3

// writeTable prints the report as an aligned table.
func writeTable(w io.Writer, rep *Report) {
	limit := "unbounded"
	if rep.Requests > 0 {
		limit = strconv.Itoa(rep.Requests)
	}
	dur := rep.Duration
	if dur == "" {
		dur = "unbounded"
	}
	fmt.Fprintf(w, "target %s, concurrency %d, duration %s, requests per scenario %s\n\n", rep.URL, rep.Concurrency, dur, limit)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tREQUESTS\tERRORS\tREQ/S\tP50\tP90\tP99\tMAX\tERROR KINDS")
	var notes []string
	for _, s := range rep.Scenarios {
		p50, p90, p99, pmax := "-", "-", "-", "-"
		if s.Successes > 0 {
			p50, p90, p99, pmax = ms(s.Latency.P50), ms(s.Latency.P90), ms(s.Latency.P99), ms(s.Latency.Max)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Requests, s.Errors, s.RequestsPerSecond(),
			p50, p90, p99, pmax, kindSummary(s.Kinds))
		if s.SetupErrors > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d failed worker setups (%s)", s.Name, s.SetupErrors, kindSummary(s.SetupKinds)))
		}
		if s.ServerCPU > 0 {
			notes = append(notes, fmt.Sprintf("%s: server CPU %.0f µs per request, %.0f requests/s per server core", s.Name,
				float64(s.ServerCPU.Microseconds())/float64(max(s.Requests, 1)), s.PerServerCore()))
		}
		if s.Reseeds > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d refresh chains restarted with a password grant after a failed refresh", s.Name, s.Reseeds))
		}
		if s.Successes > 0 && !s.Latency.Exact {
			notes = append(notes, fmt.Sprintf("%s: percentiles from a uniform sample of %d of %d latencies", s.Name, s.Latency.Samples, s.Successes))
		}
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nLatencies are of successful requests; errors are non-2xx answers, transport errors and unusable 2xx answers.")
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
}

// kindSummary is e.g. "400 invalid_grant×12, timeout×3, +2 more".
func kindSummary(kinds []ErrorKind) string {
	if len(kinds) == 0 {
		return "-"
	}
	var b []string
	for i, k := range kinds {
		if i == tableKinds {
			b = append(b, fmt.Sprintf("+%d more", len(kinds)-tableKinds))
			break
		}
		b = append(b, fmt.Sprintf("%s×%d", k.Kind, k.Count))
	}
	return strings.Join(b, ", ")
}

// ms formats a latency in milliseconds.
func ms(d time.Duration) string {
	return strconv.FormatFloat(msFloat(d), 'f', 2, 64) + "ms"
}

func msFloat(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// jsonReport is the -json shape: numbers in plain units (seconds,
// milliseconds) so any tool can read them.
type jsonReport struct {
	URL         string         `json:"url"`
	Concurrency int            `json:"concurrency"`
	Duration    string         `json:"duration,omitempty"`
	Requests    int            `json:"requests_per_scenario"`
	Started     time.Time      `json:"started"`
	Scenarios   []jsonScenario `json:"scenarios"`
}

type jsonScenario struct {
	Name              string      `json:"name"`
	Requests          int         `json:"requests"`
	Successes         int         `json:"successes"`
	Errors            int         `json:"errors"`
	ErrorKinds        []ErrorKind `json:"error_kinds"`
	SetupErrors       int         `json:"setup_errors"`
	SetupErrorKinds   []ErrorKind `json:"setup_error_kinds"`
	Reseeds           int         `json:"reseeds,omitempty"`
	ElapsedSeconds    float64     `json:"elapsed_seconds"`
	RequestsPerSecond float64     `json:"requests_per_second"`
	LatencyMS         jsonLatency `json:"latency_ms"`
	ServerCPUSeconds  float64     `json:"server_cpu_seconds,omitempty"`
	PerServerCore     float64     `json:"requests_per_server_core_second,omitempty"`
}

type jsonLatency struct {
	P50     float64 `json:"p50"`
	P90     float64 `json:"p90"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
	Min     float64 `json:"min"`
	Mean    float64 `json:"mean"`
	Samples int     `json:"samples"`
	Exact   bool    `json:"exact"`
}

func toJSON(rep *Report) jsonReport {
	out := jsonReport{URL: rep.URL, Concurrency: rep.Concurrency, Duration: rep.Duration, Requests: rep.Requests, Started: rep.Started,
		Scenarios: []jsonScenario{}}
	for _, s := range rep.Scenarios {
		l := s.Latency
		out.Scenarios = append(out.Scenarios, jsonScenario{
			Name: s.Name, Requests: s.Requests, Successes: s.Successes, Errors: s.Errors,
			ErrorKinds: nonNil(s.Kinds), SetupErrors: s.SetupErrors, SetupErrorKinds: nonNil(s.SetupKinds), Reseeds: s.Reseeds,
			ElapsedSeconds: s.Elapsed.Seconds(), RequestsPerSecond: s.RequestsPerSecond(),
			LatencyMS: jsonLatency{P50: msFloat(l.P50), P90: msFloat(l.P90), P99: msFloat(l.P99), Max: msFloat(l.Max),
				Min: msFloat(l.Min), Mean: msFloat(l.Mean), Samples: l.Samples, Exact: l.Exact},
			ServerCPUSeconds: s.ServerCPU.Seconds(), PerServerCore: s.PerServerCore(),
		})
	}
	return out
}

func nonNil(k []ErrorKind) []ErrorKind {
	if k == nil {
		return []ErrorKind{}
	}
	return k
}

// writeJSON prints the report as indented JSON.
func writeJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(toJSON(rep))
}
