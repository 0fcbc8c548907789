// Command scale is the cluster scale run: on an embedded control plane
// (envtest) with the operator and its token server running in this process,
// it declares many OAuthClients and OAuthUsers across many namespaces and
// then many refresh-token families, and reports what a platform team sizes a
// replica by: time until every object is Ready, the API requests the
// manager made (writes and reads), the manager's memory (Go heap after a
// collection, and the process RSS), the Secrets in the cluster, and the
// refresh-token throughput with every family in place.
//
//	go run ./hack/scale -namespaces 100 -clients 10000 -users 10000 -families 100000
//
// The load comes from this process too (loopback HTTP, bounded by
// -refresh-duration); its own memory is small next to the manager's
// caches, and the figures say what they include.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
	"github.com/tokenwarden/tokenwarden/internal/operator"
	"github.com/tokenwarden/tokenwarden/internal/store"
	"github.com/tokenwarden/tokenwarden/internal/store/kubestore"
	"github.com/tokenwarden/tokenwarden/internal/testenv"
)

type config struct {
	namespaces, clients, users, families, workers int
	refreshDuration, readyTimeout                 time.Duration
}

func main() {
	var c config
	flag.IntVar(&c.namespaces, "namespaces", 100, "tenant namespaces")
	flag.IntVar(&c.clients, "clients", 10000, "OAuthClients, spread over the namespaces")
	flag.IntVar(&c.users, "users", 10000, "OAuthUsers, spread over the namespaces")
	flag.IntVar(&c.families, "families", 100000, "refresh-token families, spread over the namespaces' first client and user")
	flag.IntVar(&c.workers, "workers", 16, "concurrent creators and refreshers")
	flag.DurationVar(&c.refreshDuration, "refresh-duration", 10*time.Second, "how long to measure refresh throughput")
	flag.DurationVar(&c.readyTimeout, "ready-timeout", 30*time.Minute, "give up when objects are not Ready by then")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

// requestCounter counts the manager's requests to the API server by kind.
type requestCounter struct {
	rt                  http.RoundTripper
	writes, reads, list atomic.Int64
}

func run(c config) error {
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	creator, err := fastClient(env)
	if err != nil {
		return err
	}
	const opNS = "tokenwarden-system"
	nss := make([]string, c.namespaces)
	for i := range nss {
		nss[i] = fmt.Sprintf("tenant-%03d", i)
	}
	for _, n := range append([]string{opNS}, nss...) {
		if err := creator.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	issuer := "http://" + ln.Addr().String()
	o := testenv.OperatorOptions(opNS, issuer)
	o.Token.Listener = ln
	counter := &requestCounter{}
	mcfg := rest.CopyConfig(env.Config)
	mcfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { counter.rt = rt; return counter })
	mgr, err := operator.NewManager(ctx, mcfg, o)
	if err != nil {
		return err
	}
	go func() { _ = mgr.Start(ctx) }()
	if err := waitServing(issuer); err != nil {
		return err
	}
	report("started", counter, 0, 0)

	start := time.Now()
	if err := createObjects(ctx, creator, c, nss); err != nil {
		return err
	}
	created := time.Since(start)
	if err := waitReady(ctx, mgr.GetClient(), c, start); err != nil {
		return err
	}
	fmt.Printf("%d OAuthClients and %d OAuthUsers in %d namespaces: created in %v, all Ready after %v\n",
		c.clients, c.users, c.namespaces, created.Round(time.Second), time.Since(start).Round(time.Second))
	secrets, err := countSecrets(ctx, creator)
	if err != nil {
		return err
	}
	report("clients and users Ready", counter, secrets, 0)

	fams, err := createFamilies(ctx, env, creator, c, nss, issuer, opNS)
	if err != nil {
		return err
	}
	if err := waitCachedFamilies(ctx, mgr.GetClient(), opNS, c.families); err != nil {
		return err
	}
	if secrets, err = countSecrets(ctx, creator); err != nil {
		return err
	}
	report("families in place", counter, secrets, c.families)
	rate, failed := refreshLoad(issuer, fams, c)
	fmt.Printf("refresh_token over %d families: %.0f req/s for %v, %d failed\n", len(fams.tokens), rate, c.refreshDuration, failed)
	report("after the refresh load", counter, secrets, c.families)
	return nil
}

// fastClient is a client for the load, without client-side rate limits.
func fastClient(env *testenv.Env) (client.Client, error) {
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 5000, 10000
	return client.New(cfg, client.Options{Scheme: env.Scheme})
}

// report prints the manager's request counts and this process's memory.
func report(phase string, c *requestCounter, secrets, families int) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("[%s] manager requests: %d writes, %d gets, %d lists/watches; Go heap in use %d MiB; process RSS %d MiB; Secrets in the cluster %d; families %d\n",
		phase, c.writes.Load(), c.reads.Load(), c.list.Load(), ms.HeapInuse>>20, rssMiB(), secrets, families)
}

func rssMiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			_, _ = fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb >> 10
		}
	}
	return -1
}

// parallel runs f(i) for i in [0, n) on workers goroutines and returns the
// first error.
func parallel(n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func createObjects(ctx context.Context, cl client.Client, c config, nss []string) error {
	err := parallel(c.clients, c.workers, func(i int) error {
		return cl.Create(ctx, &v1alpha1.OAuthClient{
			ObjectMeta: metav1.ObjectMeta{Namespace: nss[i%len(nss)], Name: fmt.Sprintf("app-%05d", i)},
			Spec: v1alpha1.OAuthClientSpec{
				GrantTypes: []v1alpha1.GrantType{v1alpha1.GrantClientCredentials, v1alpha1.GrantPassword, v1alpha1.GrantRefreshToken},
				Scopes:     []string{"read", "offline_access"},
			},
		})
	})
	if err != nil {
		return fmt.Errorf("create clients: %w", err)
	}
	return parallel(c.users, c.workers, func(i int) error {
		if err := cl.Create(ctx, &v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: nss[i%len(nss)], Name: fmt.Sprintf("user-%05d", i)}}); err != nil {
			return fmt.Errorf("create users: %w", err)
		}
		return nil
	})
}

// waitReady counts Ready objects in the manager's cache (read-only, not
// copied), so the count itself costs no memory.
func waitReady(ctx context.Context, cache client.Reader, c config, start time.Time) error {
	last := time.Now()
	for {
		var clients v1alpha1.OAuthClientList
		var users v1alpha1.OAuthUserList
		if err := cache.List(ctx, &clients, client.UnsafeDisableDeepCopy); err != nil {
			return err
		}
		if err := cache.List(ctx, &users, client.UnsafeDisableDeepCopy); err != nil {
			return err
		}
		rc, ru := 0, 0
		for i := range clients.Items {
			if meta.IsStatusConditionTrue(clients.Items[i].Status.Conditions, v1alpha1.ConditionReady) {
				rc++
			}
		}
		for i := range users.Items {
			if meta.IsStatusConditionTrue(users.Items[i].Status.Conditions, v1alpha1.ConditionReady) {
				ru++
			}
		}
		if rc == c.clients && ru == c.users {
			return nil
		}
		if time.Since(last) > 30*time.Second {
			fmt.Printf("  %v: %d of %d clients and %d of %d users Ready\n", time.Since(start).Round(time.Second), rc, c.clients, ru, c.users)
			last = time.Now()
		}
		if time.Since(start) > c.readyTimeout {
			return fmt.Errorf("after %v only %d of %d clients and %d of %d users are Ready", c.readyTimeout, rc, c.clients, ru, c.users)
		}
		time.Sleep(2 * time.Second)
	}
}

func countSecrets(ctx context.Context, cl client.Client) (int, error) {
	n := 0
	opts := &client.ListOptions{Limit: 5000}
	for {
		var list metav1.PartialObjectMetadataList
		list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
		if err := cl.List(ctx, &list, opts); err != nil {
			return 0, err
		}
		n += len(list.Items)
		if list.Continue == "" {
			return n, nil
		}
		opts.Continue = list.Continue
	}
}

// familySet is the refresh tokens of the families created, by namespace.
type familySet struct {
	tokens []familyToken
}

type familyToken struct {
	clientID, clientSecret, token string
}

// createFamilies signs each namespace's first user in once with its first
// client (a real family, created by the token server), then creates the
// rest of c.families as copies of that record with their own id and token
// digest, through the store's own Create (the stored format), spread over
// the namespaces.
func createFamilies(ctx context.Context, env *testenv.Env, cl client.Client, c config, nss []string, issuer, opNS string) (*familySet, error) {
	st := kubestore.New(kubestore.Options{Cache: cl, Live: cl, Writer: cl, Namespace: opNS}).Families
	templates := make([]*store.Family, len(nss))
	owners := make([]store.Owner, len(nss))
	creds := make([][2]string, len(nss))
	for i, ns := range nss {
		t, owner, id, secret, err := templateFamily(ctx, cl, ns, i, issuer)
		if err != nil {
			return nil, err
		}
		templates[i], owners[i], creds[i] = t, owner, [2]string{id, secret}
	}
	set := &familySet{tokens: make([]familyToken, c.families)}
	start := time.Now()
	err := parallel(c.families, c.workers, func(i int) error {
		k := i % len(nss)
		id, secret := randomHex(16), randomHex(32)
		f := *templates[k]
		sum := sha256.Sum256([]byte(secret))
		f.Current, f.Previous = hex.EncodeToString(sum[:]), ""
		if err := st.Create(ctx, nss[k], id, &f, owners[k]); err != nil {
			return fmt.Errorf("create family %d: %w", i, err)
		}
		set.tokens[i] = familyToken{clientID: creds[k][0], clientSecret: creds[k][1], token: "twr_" + id + "_" + secret}
		return nil
	})
	if err != nil {
		return nil, err
	}
	fmt.Printf("%d refresh families created in %v\n", c.families, time.Since(start).Round(time.Second))
	return set, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// templateFamily signs namespace ns's first user in with its first client
// and returns the family record the token server stored.
func templateFamily(ctx context.Context, cl client.Client, ns string, i int, issuer string) (*store.Family, store.Owner, string, string, error) {
	var owner store.Owner
	var c v1alpha1.OAuthClient
	var u v1alpha1.OAuthUser
	if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("app-%05d", i)}, &c); err != nil {
		return nil, owner, "", "", err
	}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("user-%05d", i)}, &u); err != nil {
		return nil, owner, "", "", err
	}
	var cs, us corev1.Secret
	if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: c.Status.SecretName}, &cs); err != nil {
		return nil, owner, "", "", err
	}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: u.Status.SecretName}, &us); err != nil {
		return nil, owner, "", "", err
	}
	id, secret := c.Status.ClientID, string(cs.Data[contract.KeyClientSecret])
	tok, err := passwordGrant(issuer, id, secret, u.Status.Username, string(us.Data[contract.KeyPassword]))
	if err != nil {
		return nil, owner, "", "", fmt.Errorf("sign-in in %s: %w", ns, err)
	}
	famID, _, ok := strings.Cut(strings.TrimPrefix(tok, "twr_"), "_")
	if !ok {
		return nil, owner, "", "", fmt.Errorf("refresh token %q", tok)
	}
	opts := kubestore.Options{Cache: cl, Live: cl, Writer: cl, Namespace: "tokenwarden-system"}
	f, err := kubestore.New(opts).Families.Get(ctx, ns, famID)
	if err != nil {
		return nil, owner, "", "", fmt.Errorf("read the family of %s: %w", ns, err)
	}
	owner = store.Owner{UserName: u.Name, UserUID: u.UID, ClientName: c.Name, ClientUID: c.UID}
	return f, owner, id, secret, nil
}

func waitCachedFamilies(ctx context.Context, cache client.Reader, opNS string, n int) error {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		var list corev1.SecretList
		if err := cache.List(ctx, &list, client.InNamespace(opNS), client.MatchingLabels{contract.LabelKind: contract.KindRefreshFamily}, client.UnsafeDisableDeepCopy); err != nil {
			return err
		}
		// The templates are families too.
		if len(list.Items) >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the manager's cache did not see every family in 10 minutes")
		}
		time.Sleep(time.Second)
	}
}
