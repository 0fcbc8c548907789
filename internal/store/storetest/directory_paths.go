package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
)

// testDirectoryDefaultPath: a client is found by an alias path its status
// holds (not one its spec merely wants); two holders (a state the
// controller resolves) find neither, so a clash never lets one namespace's
// client answer for the other's.
func testDirectoryDefaultPath(t *testing.T, fx Fixture) {
	ctx := context.Background()
	dir, ns1, ns2 := fx.Stores().Directory, fx.Namespace(t), fx.Namespace(t)
	path, wanted := "/"+ns1+"/token", "/"+ns1+"/wanted"
	holder := oauthClient(ns1, "holder", ns1+".holder", false)
	holder.Spec.Compatibility = &v1alpha1.Compatibility{DefaultForPaths: []string{path, wanted}}
	holder.Status.Compatibility = &v1alpha1.CompatibilityStatus{DefaultForPaths: []string{path}}
	stored := fx.PutClient(t, holder, "s3cret", "", time.Time{})
	c, err := dir.ClientByDefaultPath(ctx, path)
	if err != nil || c.Object.UID != stored.UID || c.Secret != "s3cret" {
		t.Fatalf("client by default path: %+v, %v", c, err)
	}
	for _, p := range []string{wanted, "", "/other"} {
		c, err = dir.ClientByDefaultPath(ctx, p)
		expectNotFound(t, "client by default path "+p, c, err)
	}
	second := oauthClient(ns2, "second", ns2+".second", true)
	second.Status.Compatibility = &v1alpha1.CompatibilityStatus{DefaultForPaths: []string{path}}
	fx.PutClient(t, second, "", "", time.Time{})
	c, err = dir.ClientByDefaultPath(ctx, path)
	expectNotFound(t, "default path held twice", c, err)
}
