package contract

import (
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Labels of the token server's records (refresh families, authorization
// codes, revoked tokens), which live in the operator's namespace, where no
// tenant can write: a record names the tenant it belongs to in a label, not
// by where it is.
const (
	// LabelRecordNamespace names the namespace of the client a record was
	// issued to. The store reads a record for that namespace only.
	LabelRecordNamespace = "tokenwarden.dev/namespace"
	// LabelRecordClientUID is the UID of the client a record was issued to:
	// families are counted per client and user, revocations per client.
	LabelRecordClientUID = "tokenwarden.dev/client-uid"
	// LabelRecordUserUID is the UID of the user a record was issued to.
	LabelRecordUserUID = "tokenwarden.dev/user-uid"
)

// Cache field indexes of the records, so counting them for a cap costs no
// API call and no scan of the operator namespace.
const (
	// IndexRecordOwner maps a family or code Secret to RecordOwnerKey of
	// its labels.
	IndexRecordOwner = "tokenwarden.recordOwner"
	// IndexRevokedClient maps a revocation ConfigMap to the UID of the
	// client whose token it revokes.
	IndexRevokedClient = "tokenwarden.revokedClient"
)

// KindStoreCutoff marks the Secret recording when this version first started:
// records of the previous release in tenant namespaces last written before
// it are moved into the operator namespace, later ones are never read.
const KindStoreCutoff = "store-cutoff"

// RecordOwnerKey is the IndexRecordOwner value of a record of namespace
// issued to a client and a user (by UID).
func RecordOwnerKey(namespace, clientUID, userUID string) string {
	return namespace + "/" + clientUID + "/" + userUID
}

// recordOwnerIndex indexes a record Secret by RecordOwnerKey of its labels;
// one without all three labels (another Secret, a record of an earlier
// release) is not indexed.
func recordOwnerIndex(o client.Object) []string {
	l := o.GetLabels()
	ns, c, u := l[LabelRecordNamespace], l[LabelRecordClientUID], l[LabelRecordUserUID]
	if ns == "" || c == "" || u == "" {
		return nil
	}
	return []string{RecordOwnerKey(ns, c, u)}
}

// revokedClientIndex indexes a revocation ConfigMap by its client's UID.
func revokedClientIndex(o client.Object) []string {
	if o.GetLabels()[LabelKind] != KindRevokedToken {
		return nil
	}
	return nonEmpty(o.GetLabels()[LabelRecordClientUID])
}
