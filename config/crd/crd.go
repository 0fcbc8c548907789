// Package crd embeds Tokenwarden's CustomResourceDefinitions, as
// `make manifests` generates them into bases/, so that Go code (the test
// harness in pkg/tokenwardentest) installs exactly the CRDs of the build it
// is compiled from, also from the module cache or a vendored copy.
package crd

import "embed"

// Bases holds bases/*.yaml. The embed is the generated files themselves, so
// it cannot drift from them.
//
//go:embed bases/*.yaml
var Bases embed.FS
