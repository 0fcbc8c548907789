package controllers

import (
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenwarden/tokenwarden/internal/contract"
)

// clientIDPolicy is what decides whether a namespace may use a client_id:
// the Namespace annotation the platform team sets, and whether the part of
// the id before its first dot names another namespace that exists.
type clientIDPolicy struct {
	// unprefixedAllowed is the namespace's
	// tokenwarden.dev/allow-unprefixed-client-ids annotation.
	unprefixedAllowed bool
	// prefixNamespaceExists reports that the id begins with
	// "<other>." and a Namespace <other> exists.
	prefixNamespaceExists bool
}

// clientIDRefusal returns why namespace ns may not use id, or "" when it may.
//
// Every namespace owns the ids that begin with its name and a dot: namespace
// names cannot contain a dot, so no two namespaces share that space, and the
// default id "<namespace>.<name>" lies in it. Any other id could be another
// tenant's (its default id, a user's subject, a legacy id it migrated), so
// it needs the platform team's consent through the Namespace annotation,
// which tenants cannot edit. Even then an id in an existing namespace's
// space stays that namespace's: an allowed namespace cannot squat on the
// ids another one gets by default.
func clientIDRefusal(id, ns string, p clientIDPolicy) string {
	if strings.HasPrefix(id, ns+".") {
		return ""
	}
	if !p.unprefixedAllowed {
		return fmt.Sprintf("spec.clientID %q must begin with %q (the namespace and a dot); only the platform team can allow other ids, "+
			"with the annotation %s: \"true\" on the Namespace", id, ns+".", contract.AnnotationAllowUnprefixedClientIDs)
	}
	if p.prefixNamespaceExists {
		owner, _, _ := strings.Cut(id, ".")
		return fmt.Sprintf("spec.clientID %q begins with %q: ids that begin with a namespace name and a dot belong to that namespace (%s)",
			id, owner+".", owner)
	}
	return ""
}

// idClaim is one OAuthClient wanting a client_id, as the clash rule sees it.
type idClaim struct {
	obj client.Object
	// holds says the client holds the id now (status.clientID).
	holds bool
	// yielded says the client waited for the id while a client of another
	// namespace held it (condition ClientIDWaiting at its current
	// generation). It neither takes the id nor keeps that namespace from
	// taking it back; an edit or re-creation of the client ends it.
	yielded bool
}

// idVerdict is the clash rule's answer for one client. The zero value means
// the client may hold the id.
type idVerdict struct {
	// blockedBy is "namespace/name" of the client that holds or takes the
	// id instead.
	blockedBy string
	// heldElsewhere says blockedBy holds the id and is of another
	// namespace: the client yields (see idClaim.yielded).
	heldElsewhere bool
	// yielded says the client yielded the id earlier (held or free).
	yielded bool
	// contested lists the namespaces of the claimants of an id nobody
	// holds, when there are several: nobody takes it.
	contested []string
}

// ok reports whether the client may hold the id.
func (v idVerdict) ok() bool { return v.blockedBy == "" && !v.yielded && len(v.contested) == 0 }

// decideClientID is the client_id clash rule. others are the live clients
// other than self that want the same id: each holder, and each claimant whose
// namespace may use the id (clientIDRefusal).
//
//   - A holder keeps its id: a working client never loses it to a newcomer
//     (when two hold it for a moment, takesPrecedence picks one).
//   - An id is never handed to another namespace automatically. A claimant
//     that waited while another namespace held the id yields: when the
//     holder goes it does not take the id, and it does not keep the
//     holder's namespace from taking it back. Otherwise a squatter waiting
//     in another namespace would take over a victim's id when the victim's
//     client is deleted and re-created (a GitOps replace).
//   - An id nobody holds goes to the oldest claimant that has not yielded,
//     and only when all of them are in one namespace. Claimants from several
//     namespaces get nothing until the platform team resolves the clash by
//     removing all claims but one's namespace.
func decideClientID(self idClaim, others []idClaim) idVerdict {
	if self.yielded && !self.holds {
		// Whether the holder is still there or not: telling the claimant
		// when the id is free would tell a squatter when to re-create its
		// client and claim it afresh.
		return idVerdict{yielded: true}
	}
	for _, o := range others {
		if o.holds && takesPrecedence(o.obj, true, self.obj, self.holds) {
			return idVerdict{blockedBy: nameOf(o.obj), heldElsewhere: o.obj.GetNamespace() != self.obj.GetNamespace()}
		}
	}
	if self.holds {
		return idVerdict{}
	}
	namespaces := []string{self.obj.GetNamespace()}
	var oldest client.Object
	for _, o := range others {
		if o.yielded {
			continue
		}
		if !slices.Contains(namespaces, o.obj.GetNamespace()) {
			namespaces = append(namespaces, o.obj.GetNamespace())
		}
		if olderThan(o.obj, self.obj) && (oldest == nil || olderThan(o.obj, oldest)) {
			oldest = o.obj
		}
	}
	if len(namespaces) > 1 {
		slices.Sort(namespaces)
		return idVerdict{contested: namespaces}
	}
	if oldest != nil {
		return idVerdict{blockedBy: nameOf(oldest)}
	}
	return idVerdict{}
}

// nameOf is "namespace/name" of obj.
func nameOf(obj client.Object) string { return obj.GetNamespace() + "/" + obj.GetName() }
