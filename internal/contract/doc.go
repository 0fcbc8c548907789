// Package contract is the leaf both sides of Tokenwarden share: the names of
// cache indexes, labels, kinds and Secret keys, and the in-process token
// issuer the workload-token controller calls. The controllers and the token
// server never import each other; what they must agree on lives here, and
// only the composition root (internal/operator) sees both.
package contract
