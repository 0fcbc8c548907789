// Package password verifies user passwords that Tokenwarden knows only as a
// hash: bcrypt, or argon2id in the PHC string format.
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

// argon2Params are the parameters of an argon2id PHC string.
type argon2Params struct {
	memoryKiB uint32
	time      uint32
	threads   uint8
	salt, key []byte
}

// ParseHash checks that h is a bcrypt or argon2id hash Tokenwarden can verify.
// Its errors never repeat the hash.
func ParseHash(h string) error {
	switch {
	case isBcrypt(h):
		if !wellFormedBcrypt(h) {
			return errors.New("malformed bcrypt hash: want 60 characters, $2a$, $2b$ or $2y$, a two-digit cost and 53 characters of bcrypt base64")
		}
		cost, err := bcrypt.Cost([]byte(normalizeBcrypt(h)))
		if err != nil {
			return errors.New("malformed bcrypt hash")
		}
		if cost < bcrypt.MinCost || cost > 17 {
			return fmt.Errorf("bcrypt cost %d is outside 4..17", cost)
		}
		return nil
	case strings.HasPrefix(h, "$argon2id$"):
		_, err := parseArgon2id(h)
		return err
	default:
		return errors.New("unknown hash scheme: use bcrypt ($2a$, $2b$, $2y$) or argon2id ($argon2id$)")
	}
}

// VerifyHash reports whether presented matches the hash h. An error means the
// hash itself is unusable, never that the password is wrong.
func VerifyHash(h, presented string) (bool, error) {
	switch {
	case isBcrypt(h):
		if !wellFormedBcrypt(h) {
			return false, errors.New("malformed bcrypt hash")
		}
		if len(presented) > maxBcryptPassword {
			// bcrypt reads only 72 bytes: a longer password would match
			// any password sharing its first 72 bytes.
			return false, nil
		}
		err := bcrypt.CompareHashAndPassword([]byte(normalizeBcrypt(h)), []byte(presented))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, nil
		}
		if err != nil {
			return false, errors.New("malformed bcrypt hash")
		}
		return true, nil
	case strings.HasPrefix(h, "$argon2id$"):
		p, err := parseArgon2id(h)
		if err != nil {
			return false, err
		}
		got := argon2.IDKey([]byte(presented), p.salt, p.time, p.memoryKiB, p.threads, uint32(len(p.key)))
		return subtle.ConstantTimeCompare(got, p.key) == 1, nil
	default:
		return false, errors.New("unknown hash scheme")
	}
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
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return p, errors.New("malformed argon2id parameters")
		}
		switch k {
		case "m":
			p.memoryKiB = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > 255 {
				return p, errors.New("argon2id parallelism must be 1..255")
			}
			p.threads = uint8(n)
		default:
			return p, errors.New("unknown argon2id parameter")
		}
	}
	switch {
	case p.memoryKiB < 8 || p.memoryKiB > 1<<20:
		return p, errors.New("argon2id memory must be 8 KiB..1 GiB")
	case p.time < 1 || p.time > 100:
		return p, errors.New("argon2id time must be 1..100")
	case p.threads < 1:
		return p, errors.New("argon2id parallelism must be 1..255")
	}
	var err error
	if p.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return p, errors.New("argon2id salt must be at least 8 bytes of unpadded base64")
	}
	if p.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(p.key) < 16 {
		return p, errors.New("argon2id hash must be at least 16 bytes of unpadded base64")
	}
	return p, nil
}
