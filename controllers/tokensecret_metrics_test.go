package controllers

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

func TestTokenExpiries(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(now)
	e := newTokenExpiries(clk)
	a := types.NamespacedName{Namespace: "ns", Name: "a"}
	b := types.NamespacedName{Namespace: "ns", Name: "b"}
	step := func(name string, f func(), want time.Duration, wantOK bool) {
		t.Helper()
		f()
		got, ok := e.minRemaining()
		if ok != wantOK || (ok && got != want) {
			t.Errorf("%s: minRemaining = %v, %v; want %v, %v", name, got, ok, want, wantOK)
		}
	}
	step("empty", func() {}, 0, false)
	step("one token", func() { e.note(a, "x", now.Add(time.Hour)) }, time.Hour, true)
	step("a sooner one", func() { e.note(b, "y", now.Add(time.Minute)) }, time.Minute, true)
	step("renewed", func() { e.note(b, "y", now.Add(2*time.Hour)) }, time.Hour, true)
	step("clock moves", func() { clk.Step(10 * time.Minute) }, 50*time.Minute, true)
	step("cleared", func() { e.note(a, "x", time.Time{}) }, 110*time.Minute, true)
	step("entry no longer declared", func() { e.keepOnly(b, []v1alpha1.TokenSecret{{Name: "z"}}) }, 0, false)
	step("client deleted", func() { e.note(a, "x", now.Add(time.Hour)); e.forgetClient(a) }, 0, false)

	// Two reconcilers (two managers in one process) keep apart.
	other := newTokenExpiries(clk)
	other.note(a, "x", now.Add(time.Hour))
	if _, ok := e.minRemaining(); ok {
		t.Error("a second reconciler's token shows in the first's gauge")
	}
}

func TestTokenExpiriesGauge(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := newTokenExpiries(clocktesting.NewFakeClock(now))
	reg := prometheus.NewPedanticRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- registeredWhileRunning{registry: reg, collector: e}.Start(ctx) }()
	gauge := func() (float64, int) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "tokenwarden_workload_token_min_remaining_seconds" {
				return mf.GetMetric()[0].GetGauge().GetValue(), len(mfs)
			}
		}
		return 0, len(mfs)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, n := gauge(); n == 0 && time.Now().Before(deadline); _, n = gauge() {
		time.Sleep(time.Millisecond)
	}
	if v, _ := gauge(); !math.IsNaN(v) {
		t.Errorf("gauge with no token = %v, want NaN", v)
	}
	e.note(types.NamespacedName{Namespace: "ns", Name: "a"}, "x", now.Add(90*time.Second))
	if v, _ := gauge(); v != 90 {
		t.Errorf("gauge = %v, want 90", v)
	}
	// A second manager in the process does not fail for the name taken.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := (registeredWhileRunning{registry: reg, collector: newTokenExpiries(clocktesting.NewFakeClock(now))}).Start(ctx2); err != nil {
		t.Errorf("second registration: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, n := gauge(); n != 0 {
		t.Errorf("%d metric families after the manager stopped, want 0", n)
	}
}
