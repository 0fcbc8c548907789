package controllers_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/operator"
	"github.com/tokenwarden/tokenwarden/internal/testenv"
)

// TestSamplesBecomeReady applies every object of config/samples, as
// `kubectl apply -f config/samples/` would, and expects each to become Ready
// with its credential Secret.
func TestSamplesBecomeReady(t *testing.T) {
	g := gomega.NewWithT(t)
	root, err := testenv.RepoRoot()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	files, err := filepath.Glob(filepath.Join(root, "config", "samples", "oauth_*.yaml"))
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(files).NotTo(gomega.BeEmpty())
	ns := env.Namespace(t)
	decode := serializer.NewCodecFactory(operator.Scheme()).UniversalDeserializer().Decode
	for _, file := range files {
		raw, err := os.ReadFile(file)
		g.Expect(err).NotTo(gomega.HaveOccurred())
		obj, _, err := decode(raw, nil, nil)
		g.Expect(err).NotTo(gomega.HaveOccurred(), file)
		o := obj.(client.Object)
		o.SetNamespace(ns)
		create(t, o)
		// Audiences are cluster-wide: free the sample's for a rerun.
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
		waitReady(t, o, metav1.ConditionTrue, "Ready")
		var secretName string
		switch x := o.(type) {
		case *v1alpha1.OAuthResource:
			g.Expect(x.Status.Audience).To(gomega.Equal(x.Spec.Audience), file)
			continue
		case *v1alpha1.OAuthClient:
			secretName = x.Status.SecretName
			s := getSecret(t, ns, secretName)
			g.Expect(string(s.Data["client_id"])).To(gomega.Equal(ns+"."+x.Name), file)
			g.Expect(string(s.Data["token_url"])).To(gomega.HavePrefix(issuer), file)
			if !x.HasStaticSecret() {
				g.Expect(s.Data).NotTo(gomega.HaveKey("client_secret"), file)
			} else {
				g.Expect(len(s.Data["client_secret"])).To(gomega.BeNumerically(">=", 43), file)
			}
		case *v1alpha1.OAuthUser:
			secretName = x.Status.SecretName
			s := getSecret(t, ns, secretName)
			g.Expect(string(s.Data["username"])).To(gomega.Equal(x.Name), file)
			g.Expect(len(s.Data["password"])).To(gomega.BeNumerically(">=", 22), file)
		default:
			t.Fatalf("%s: unexpected kind %T", file, obj)
		}
		g.Expect(strings.HasPrefix(secretName, o.GetName())).To(gomega.BeTrue(), file)
	}
	// Every audience a sample client asks for is granted by a sample
	// resource.
	var clients v1alpha1.OAuthClientList
	g.Expect(env.Client.List(context.Background(), &clients, client.InNamespace(ns))).To(gomega.Succeed())
	for _, c := range clients.Items {
		eventually(t, audiencesGranted(&c)).Should(gomega.Equal("True/Granted"), c.Name)
	}
}

// TestWorkloadSampleApplies applies config/samples/workload_serviceaccount.yaml
// (a ServiceAccount, its secretless OAuthClient and a Deployment with a
// projected token): the API server accepts each, the client becomes Ready
// without a client_secret, and the projected token is for the issuer named
// in the token URL, of the ServiceAccount the client lists.
func TestWorkloadSampleApplies(t *testing.T) {
	g := gomega.NewWithT(t)
	root, err := testenv.RepoRoot()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	raw, err := os.ReadFile(filepath.Join(root, "config", "samples", "workload_serviceaccount.yaml"))
	g.Expect(err).NotTo(gomega.HaveOccurred())
	ns := env.Namespace(t)
	decode := serializer.NewCodecFactory(operator.Scheme()).UniversalDeserializer().Decode
	var oc *v1alpha1.OAuthClient
	var dep *appsv1.Deployment
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		obj, _, err := decode([]byte(doc), nil, nil)
		g.Expect(err).NotTo(gomega.HaveOccurred())
		o := obj.(client.Object)
		o.SetNamespace(ns)
		create(t, o)
		switch x := o.(type) {
		case *v1alpha1.OAuthClient:
			oc = x
		case *appsv1.Deployment:
			dep = x
		}
	}
	g.Expect(oc).NotTo(gomega.BeNil())
	g.Expect(dep).NotTo(gomega.BeNil())
	waitReady(t, oc, metav1.ConditionTrue, "Ready")
	g.Expect(getSecret(t, ns, oc.Status.SecretName).Data).NotTo(gomega.HaveKey("client_secret"))
	pod := dep.Spec.Template.Spec
	g.Expect(oc.Spec.Authentication.ServiceAccounts).To(gomega.ContainElement(pod.ServiceAccountName))
	tokenURL := pod.Containers[0].Env[0].Value
	aud := pod.Volumes[0].Projected.Sources[0].ServiceAccountToken.Audience
	g.Expect(tokenURL).To(gomega.Equal(aud + "/oauth/token"))
}
