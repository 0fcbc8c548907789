package password

import (
	"errors"
	"strings"
)

// Algorithm names a hash scheme.
type Algorithm string

// The hash schemes Tokenwarden verifies.
const (
	Bcrypt   Algorithm = "bcrypt"
	Argon2id Algorithm = "argon2id"
)

// The dummy hashes: a random 32-byte password nobody kept, hashed at the
// default parameters. Fixed strings rather than hashes made at start-up, so
// the package holds no state and every replica spends the same work.
const (
	dummyBcrypt   = "$2a$10$ZkRQ4tlTFTShTUmKmi2p5evh.EsnO/RD8Ilj2k5E4slHKfd.E7aAi"
	dummyArgon2id = "$argon2id$v=19$m=65536,t=3,p=4$KqoLPZWhdIsl4fGwS79MNQ$vKWQdXvDD3Gscj5uqJKrgp/5tD7VjqGIFDSvKA0CP6w"
)

// AlgorithmOf names the scheme of a hash, or "" when it is neither.
func AlgorithmOf(hash string) Algorithm {
	switch {
	case isBcrypt(hash):
		return Bcrypt
	case strings.HasPrefix(hash, "$argon2id$"):
		return Argon2id
	default:
		return ""
	}
}

// Dummy returns the fixed hash of alg at the default parameters
// (DefaultBcryptCost; DefaultArgon2Memory, DefaultArgon2Time,
// DefaultArgon2Parallelism). An unknown alg gets the bcrypt one.
func Dummy(alg Algorithm) string {
	if alg == Argon2id {
		return dummyArgon2id
	}
	return dummyBcrypt
}

// VerifyDummy spends the work of verifying presented against a real hash of
// alg at the default parameters, and takes a Limiter slot for it, so a user
// that does not exist or has no usable password costs what a user hashed at
// the defaults costs: response times do not tell which usernames exist. It
// returns ErrBusy when the limiter is full (as Verify would for a real user)
// and nil otherwise; nothing ever matches.
func (c *Cache) VerifyDummy(alg Algorithm, presented string) error {
	_, err := c.limiter.run(func() (bool, error) {
		return c.verify(Dummy(alg), presented)
	})
	if errors.Is(err, ErrBusy) {
		return err
	}
	return nil
}
