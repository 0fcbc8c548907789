// Package password verifies user passwords that Tokenwarden knows only as a
// hash: bcrypt, or argon2id in the PHC string format.
//
// Verification is the most expensive thing an unauthenticated caller can make
// the token server do, so three things bound it:
//
//   - Work per hash. ParseHash and VerifyHash refuse, before any hashing,
//     bcrypt costs above MaxBcryptCost and argon2id parameters above
//     MaxArgon2Memory, MaxArgon2Time and MaxArgon2Parallelism (the CRD
//     enforces the same bounds with CEL). One argon2id verification at m=1 GiB
//     used to OOM-kill the manager.
//   - Concurrent hashes. A Limiter bounds the verifications running at once
//     across the process; when it is full, Verify fails at once with ErrBusy
//     instead of queueing (the caller answers 503 with Retry-After).
//   - Oracles. VerifyDummy spends the same work as verifying a real user's
//     hash, for a user that does not exist or has no usable password, so
//     response times do not tell which usernames exist.
//
// Users' hashes are expected at the defaults: bcrypt cost DefaultBcryptCost,
// or argon2id with DefaultArgon2Memory, DefaultArgon2Time and
// DefaultArgon2Parallelism (RFC 9106 §4, second recommended option). The
// dummy hashes use exactly these, so an unknown user costs what a user hashed
// at the defaults costs.
package password

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Bounds on the work one hash may cost. An OAuthUser's hash is written by a
// tenant, and one verification runs inside the manager that serves every
// tenant: with m=1 GiB a single sign-in attempt exceeded its memory limit.
const (
	// MinBcryptCost is bcrypt's own minimum.
	MinBcryptCost = 4
	// MaxBcryptCost 12 is about 0.3 s of one core per verification.
	MaxBcryptCost = 12
	// MinArgon2Memory is argon2's own minimum, in KiB.
	MinArgon2Memory = 8
	// MaxArgon2Memory is 64 MiB, in KiB: RFC 9106's memory-constrained
	// recommendation.
	MaxArgon2Memory = 64 * 1024
	// MaxArgon2Time bounds the argon2id passes (t).
	MaxArgon2Time = 4
	// MaxArgon2Parallelism bounds the argon2id lanes (p).
	MaxArgon2Parallelism = 4
)

// The parameters users' hashes are expected to have, and the dummy hashes do.
const (
	// DefaultBcryptCost is x/crypto's bcrypt.DefaultCost.
	DefaultBcryptCost = 10
	// DefaultArgon2Memory is 64 MiB, in KiB (RFC 9106 §4).
	DefaultArgon2Memory = 64 * 1024
	// DefaultArgon2Time is RFC 9106 §4's t=3.
	DefaultArgon2Time = 3
	// DefaultArgon2Parallelism is RFC 9106 §4's p=4.
	DefaultArgon2Parallelism = 4
)

// argon2Params are the parameters of an argon2id PHC string.
type argon2Params struct {
	memoryKiB uint32
	time      uint32
	threads   uint8
	salt, key []byte
}

// parsedHash is a hash checked to be verifiable within the bounds: exactly
// one of bcrypt (normalized) and argon2 is set.
type parsedHash struct {
	bcrypt string
	argon2 *argon2Params
}

// ParseHash checks that h is a bcrypt or argon2id hash Tokenwarden can verify
// within the work bounds. Its errors never repeat the hash.
func ParseHash(h string) error {
	_, err := parseHash(h)
	return err
}

// VerifyHash reports whether presented matches the hash h. An error means the
// hash itself is unusable (malformed, or beyond the work bounds, which is
// checked before any hashing), never that the password is wrong.
func VerifyHash(h, presented string) (bool, error) {
	p, err := parseHash(h)
	if err != nil {
		return false, err
	}
	return p.verify(presented), nil
}

func parseHash(h string) (parsedHash, error) {
	switch {
	case isBcrypt(h):
		b, err := parseBcrypt(h)
		return parsedHash{bcrypt: b}, err
	case strings.HasPrefix(h, "$argon2id$"):
		p, err := parseArgon2id(h)
		if err != nil {
			return parsedHash{}, err
		}
		return parsedHash{argon2: &p}, nil
	default:
		return parsedHash{}, errors.New("unknown hash scheme: use bcrypt ($2a$, $2b$, $2y$) or argon2id ($argon2id$)")
	}
}

// verify does the hashing work.
func (p parsedHash) verify(presented string) bool {
	if p.argon2 != nil {
		a := p.argon2
		got := argon2.IDKey([]byte(presented), a.salt, a.time, a.memoryKiB, a.threads, uint32(len(a.key)))
		return subtle.ConstantTimeCompare(got, a.key) == 1
	}
	if len(presented) > maxBcryptPassword {
		// bcrypt reads only 72 bytes: a longer password would match
		// any password sharing its first 72 bytes.
		return false
	}
	// parseBcrypt already checked what CompareHashAndPassword could refuse,
	// so any error here is a mismatch.
	return bcrypt.CompareHashAndPassword([]byte(p.bcrypt), []byte(presented)) == nil
}

// parseBcrypt checks the shape and the cost bound and returns the hash
// normalized for x/crypto.
func parseBcrypt(h string) (string, error) {
	if !wellFormedBcrypt(h) {
		return "", errors.New("malformed bcrypt hash: want 60 characters, $2a$, $2b$ or $2y$, a two-digit cost and 53 characters of bcrypt base64")
	}
	cost := int(h[4]-'0')*10 + int(h[5]-'0')
	if cost < MinBcryptCost || cost > MaxBcryptCost {
		return "", fmt.Errorf("bcrypt cost %d is outside %d..%d: rehash the password with a cost of at most %d", cost, MinBcryptCost, MaxBcryptCost, MaxBcryptCost)
	}
	n := normalizeBcrypt(h)
	if _, err := bcrypt.Cost([]byte(n)); err != nil {
		return "", errors.New("malformed bcrypt hash")
	}
	return n, nil
}

// maxBcryptPassword is the most bcrypt reads of a password.
const maxBcryptPassword = 72

// bcryptAlphabet is bcrypt's own base64 alphabet.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// wellFormedBcrypt checks the exact shape $2x$NN$ + 22 salt + 31 hash
// characters, which x/crypto's parser does not fully enforce (it ignores
// trailing bytes and does not check the salt alphabet).
func wellFormedBcrypt(h string) bool {
	if len(h) != 60 || h[3] != '$' || h[6] != '$' || h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9' {
		return false
	}
	for i := 7; i < len(h); i++ {
		if !strings.ContainsRune(bcryptAlphabet, rune(h[i])) {
			return false
		}
	}
	return true
}

func isBcrypt(h string) bool {
	return strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$")
}

// normalizeBcrypt maps $2y$ (PHP's name for the fixed algorithm) to $2b$,
// which is the same algorithm under the name x/crypto knows.
func normalizeBcrypt(h string) string {
	if strings.HasPrefix(h, "$2y$") {
		return "$2b$" + h[4:]
	}
	return h
}

// parseArgon2id reads "$argon2id$v=19$m=65536,t=3,p=4$<salt>$<key>" with
// unpadded standard base64, as the PHC string format specifies.
func parseArgon2id(h string) (argon2Params, error) {
	var p argon2Params
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[2] != "v=19" {
		return p, errors.New("malformed argon2id hash: want $argon2id$v=19$m=..,t=..,p=..$salt$hash")
	}
	m, t, threads, err := argon2Numbers(parts[3])
	if err != nil {
		return p, err
	}
	p.memoryKiB, p.time, p.threads = m, t, uint8(threads)
	if p.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return p, errors.New("argon2id salt must be at least 8 bytes of unpadded base64")
	}
	if p.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(p.key) < 16 {
		return p, errors.New("argon2id hash must be at least 16 bytes of unpadded base64")
	}
	return p, nil
}

// argon2Numbers reads "m=..,t=..,p=.." in any order, each exactly once, and
// checks each against its bounds.
func argon2Numbers(s string) (m, t, p uint32, err error) {
	seen := map[string]uint32{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, perr := strconv.ParseUint(v, 10, 32)
		if !ok || perr != nil {
			return 0, 0, 0, errors.New("malformed argon2id parameters")
		}
		if k != "m" && k != "t" && k != "p" {
			return 0, 0, 0, errors.New("unknown argon2id parameter: want m, t and p")
		}
		if _, dup := seen[k]; dup {
			return 0, 0, 0, fmt.Errorf("argon2id parameter %s is repeated", k)
		}
		seen[k] = uint32(n)
	}
	bounds := []struct {
		key, name string
		lo, hi    uint32
		unit      string
	}{
		{"m", "memory", MinArgon2Memory, MaxArgon2Memory, " KiB (64 MiB)"},
		{"t", "time", 1, MaxArgon2Time, ""},
		{"p", "parallelism", 1, MaxArgon2Parallelism, ""},
	}
	for _, b := range bounds {
		v, ok := seen[b.key]
		if !ok {
			return 0, 0, 0, fmt.Errorf("argon2id %s parameter %s is missing", b.name, b.key)
		}
		if v < b.lo || v > b.hi {
			return 0, 0, 0, fmt.Errorf("argon2id %s %s=%d is outside %d..%d%s", b.name, b.key, v, b.lo, b.hi, b.unit)
		}
	}
	return seen["m"], seen["t"], seen["p"], nil
}
