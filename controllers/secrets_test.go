package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"

	"github.com/tokenwarden/tokenwarden/api/v1alpha1"
	"github.com/tokenwarden/tokenwarden/internal/contract"
)

func TestOwnedKeys(t *testing.T) {
	owner := &v1alpha1.OAuthUser{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "carol", UID: "uid-carol"}}
	controlled := []metav1.OwnerReference{{APIVersion: "oauth.tokenwarden.dev/v1alpha1", Kind: "OAuthUser", Name: "carol", UID: "uid-carol", Controller: ptr.To(true)}}
	data := map[string][]byte{"username": nil, "password": nil, "note": nil}
	vocabulary := []string{"username", "password", "issuer"}
	tests := []struct {
		name   string
		secret *corev1.Secret
		want   []string
	}{
		{name: "no Secret", want: nil},
		{name: "being adopted: nothing is Tokenwarden's yet", secret: &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{contract.AnnotationManagedKeys: "username,password"}}, Data: data}},
		{name: "recorded keys that are present", secret: &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{OwnerReferences: controlled, Annotations: map[string]string{contract.AnnotationManagedKeys: "username,issuer"}}, Data: data},
			want: []string{"username"}},
		{name: "recorded as none", secret: &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{OwnerReferences: controlled, Annotations: map[string]string{contract.AnnotationManagedKeys: ""}}, Data: data}},
		{name: "written before the annotation: its vocabulary", secret: &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{OwnerReferences: controlled}, Data: data}, want: []string{"password", "username"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ownedKeys(tt.secret, owner, vocabulary)
			if !got.Equal(sets.New(tt.want...)) {
				t.Fatalf("owned %v, want %v", sets.List(got), tt.want)
			}
		})
	}
}
