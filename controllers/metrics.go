package controllers

import (
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

func init() {
	ctrlmetrics.Registry.MustRegister(keyChanges, keyAge, keysPublished)
}
