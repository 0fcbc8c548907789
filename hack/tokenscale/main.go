// Command tokenscale is the workload-token scale run: on an embedded control
// plane (envtest) with the operator running on the real clock, it declares
// many token Secrets with a short access-token lifetime and watches them for a
// while, reporting the API writes per second the renewals cost and the
// smallest remaining lifetime of any token in any Secret at any sampled
// moment.
//
//	go run ./hack/tokenscale -secrets 1000 -ttl 2m -duration 10m
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/operator"
	"github.com/tokenwarden/tokenwarden/internal/testenv"
)

func main() {
	secrets := flag.Int("secrets", 1000, "token Secrets to keep fresh")
	perClient := flag.Int("per-client", 10, "token Secrets declared per OAuthClient")
	ttl := flag.Duration("ttl", 2*time.Minute, "access token lifetime")
	duration := flag.Duration("duration", 10*time.Minute, "how long to watch after every Secret exists")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	if err := run(*secrets, *perClient, *ttl, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "tokenscale:", err)
		os.Exit(1)
	}
}

func run(secrets, perClient int, ttl, duration time.Duration) error {
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const ns, opNS = "scale", "tokenwarden-system"
	for _, n := range []string{ns, opNS} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			return err
		}
	}
	o := testenv.OperatorOptions(opNS, "https://auth.scale.test")
	o.Token.Addr = "0"
	mgr, err := operator.NewManager(ctx, env.Config, o)
	if err != nil {
		return err
	}
	go func() { _ = mgr.Start(ctx) }()

	// Count every write to a token Secret through a watch.
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return err
	}
	w, err := cs.CoreV1().Secrets(ns).Watch(ctx, metav1.ListOptions{LabelSelector: contract.LabelKind + "=" + contract.KindWorkloadToken})
	if err != nil {
		return err
	}
	var writes atomic.Int64
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type == watch.Added || ev.Type == watch.Modified {
				writes.Add(1)
			}
		}
	}()

	start := time.Now()
	for i := 0; i*perClient < secrets; i++ {
		c := &v1alpha1.OAuthClient{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("svc-%04d", i)},
			Spec: v1alpha1.OAuthClientSpec{Scopes: []string{"read"}, AccessTokenTTL: &metav1.Duration{Duration: ttl}}}
		for j := 0; j < perClient && i*perClient+j < secrets; j++ {
			c.Spec.TokenSecrets = append(c.Spec.TokenSecrets, v1alpha1.TokenSecret{Name: fmt.Sprintf("svc-%04d-token-%02d", i, j)})
		}
		if err := env.Client.Create(ctx, c); err != nil {
			return err
		}
	}
	for {
		n, err := countFilled(ctx, env.Client, ns)
		if err != nil {
			return err
		}
		if n == secrets {
			break
		}
		if time.Since(start) > 5*time.Minute {
			return fmt.Errorf("only %d of %d Secrets filled after 5 minutes", n, secrets)
		}
		time.Sleep(time.Second)
	}
	fmt.Printf("%d token Secrets filled in %v (%d writes)\n", secrets, time.Since(start).Round(time.Second), writes.Load())

	writes.Store(0)
	watchStart := time.Now()
	lowest := ttl
	samples := 0
	for time.Since(watchStart) < duration {
		time.Sleep(time.Second)
		d, ok := minTokenRemaining()
		if !ok {
			continue
		}
		samples++
		lowest = min(lowest, d)
	}
	elapsed := time.Since(watchStart)
	// Check the Secrets themselves too, not only the controller's view.
	lowestStored, err := lowestStoredRemaining(ctx, env.Client, ns)
	if err != nil {
		return err
	}
	fmt.Printf("watched %v: %d Secret writes (%.1f/s, %.1f per Secret per lifetime); smallest remaining lifetime seen %v (%.0f%% of %v) over %d samples; at the end %v\n",
		elapsed.Round(time.Second), writes.Load(), float64(writes.Load())/elapsed.Seconds(),
		float64(writes.Load())/float64(secrets)/(elapsed.Seconds()/ttl.Seconds()),
		lowest.Round(time.Second), 100*lowest.Seconds()/ttl.Seconds(), ttl, samples, lowestStored.Round(time.Second))
	return nil
}

func countFilled(ctx context.Context, c client.Client, ns string) (int, error) {
	var list corev1.SecretList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{contract.LabelKind: contract.KindWorkloadToken}); err != nil {
		return 0, err
	}
	n := 0
	for _, s := range list.Items {
		if len(s.Data[contract.KeyAccessToken]) > 0 {
			n++
		}
	}
	return n, nil
}

func lowestStoredRemaining(ctx context.Context, c client.Client, ns string) (time.Duration, error) {
	var list corev1.SecretList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{contract.LabelKind: contract.KindWorkloadToken}); err != nil {
		return 0, err
	}
	var lowest time.Duration
	for i, s := range list.Items {
		exp, err := time.Parse(time.RFC3339, string(s.Data[contract.KeyExpiresAt]))
		if err != nil {
			return 0, fmt.Errorf("secret %s: %w", s.Name, err)
		}
		if d := time.Until(exp); i == 0 || d < lowest {
			lowest = d
		}
	}
	return lowest, nil
}

// minTokenRemaining reads the controller's view, the gauge
// tokenwarden_workload_token_min_remaining_seconds, from the metrics registry
// the manager exports.
func minTokenRemaining() (time.Duration, bool) {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return 0, false
	}
	for _, f := range families {
		if f.GetName() != "tokenwarden_workload_token_min_remaining_seconds" || len(f.GetMetric()) == 0 {
			continue
		}
		v := f.GetMetric()[0].GetGauge().GetValue()
		if math.IsNaN(v) {
			return 0, false
		}
		return time.Duration(v * float64(time.Second)), true
	}
	return 0, false
}
