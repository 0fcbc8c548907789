package operator

import (
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// TestRateLimitedConfig checks that the manager's API client gets the
// client-side rate limit of the options (controller-runtime leaves it
// unlimited otherwise) without changing the caller's config.
func TestRateLimitedConfig(t *testing.T) {
	o := DefaultOptions()
	if o.KubeAPIQPS <= 0 || o.KubeAPIBurst <= 0 {
		t.Fatalf("default limit %g/%d is not a limit", o.KubeAPIQPS, o.KubeAPIBurst)
	}
	in := &rest.Config{Host: "https://example", QPS: -1, RateLimiter: flowcontrol.NewFakeAlwaysRateLimiter()}
	got := o.rateLimited(in)
	if got.QPS != o.KubeAPIQPS || got.Burst != o.KubeAPIBurst || got.RateLimiter != nil {
		t.Fatalf("config QPS %g burst %d limiter %v, want %g/%d and no override", got.QPS, got.Burst, got.RateLimiter, o.KubeAPIQPS, o.KubeAPIBurst)
	}
	if in.QPS != -1 || in.RateLimiter == nil || got.Host != in.Host {
		t.Fatalf("the caller's config changed or the copy lost its host: %+v", in)
	}
}

func TestValidateRateLimit(t *testing.T) {
	tests := []struct {
		name  string
		qps   float32
		burst int
		ok    bool
	}{
		{"defaults", 50, 100, true},
		{"burst equal to rate", 5, 5, true},
		{"fractional rate", 0.5, 1, true},
		{"zero rate (unlimited)", 0, 100, false},
		{"negative rate", -1, 100, false},
		{"zero burst", 50, 0, false},
		{"burst below rate", 50, 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			o.KubeAPIQPS, o.KubeAPIBurst = tt.qps, tt.burst
			err := o.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "rate limit") {
				t.Fatalf("message %q does not name the rate limit", err)
			}
		})
	}
}
