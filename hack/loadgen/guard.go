package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
)

// errNotLoopback marks a target or connection refused by the loopback guard.
var errNotLoopback = errors.New("not a loopback address")

// lookupFunc resolves a host name; tests replace it.
type lookupFunc func(ctx context.Context, host string) ([]net.IPAddr, error)

// checkTarget refuses a base URL whose host is not loopback, unless
// allowRemote. A host name must resolve, and every address it resolves to must
// be loopback: a name that also points elsewhere is refused.
func checkTarget(ctx context.Context, rawURL string, allowRemote bool, lookup lookupFunc) error {
	if allowRemote {
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("-url: %v", err)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("-url %q: no host", rawURL)
	}
	if err := checkLoopbackHost(ctx, host, lookup); err != nil {
		return fmt.Errorf("-url %q: %w; pass -allow-remote to load a non-loopback server", rawURL, err)
	}
	return nil
}

// checkLoopbackHost checks an IP literal directly and resolves a name.
func checkLoopbackHost(ctx context.Context, host string, lookup lookupFunc) error {
	if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); ip != nil {
		if !ip.IsLoopback() {
			return fmt.Errorf("host %s is %w", host, errNotLoopback)
		}
		return nil
	}
	if lookup == nil {
		lookup = net.DefaultResolver.LookupIPAddr
	}
	addrs, err := lookup(ctx, host)
	if err != nil {
		return fmt.Errorf("host %s cannot be resolved to check that it is loopback: %v", host, err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("host %s resolves to no address", host)
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return fmt.Errorf("host %s resolves to %s, which is %w", host, a.IP, errNotLoopback)
		}
	}
	return nil
}

// loopbackOnly is a net.Dialer Control function: it refuses to connect to a
// non-loopback address, whatever name or redirect led there.
func loopbackOnly(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("connection to %s refused: %w (pass -allow-remote)", address, errNotLoopback)
	}
	return nil
}
