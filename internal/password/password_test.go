package password

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// ---- helpers ---------------------------------------------------------------

func bcryptHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatalf("bcrypt.GenerateFromPassword: %v", err)
	}
	return string(h)
}

// withBcryptPrefix replaces the "$2?$" prefix of a bcrypt hash.
func withBcryptPrefix(t testing.TB, h, prefix string) string {
	t.Helper()
	if len(h) < 4 || !strings.HasPrefix(h, "$2") {
		t.Fatalf("not a bcrypt hash: %q", h)
	}
	return prefix + h[4:]
}

// withBcryptCost replaces the two cost digits of a bcrypt hash.
func withBcryptCost(t testing.TB, h, cost string) string {
	t.Helper()
	if len(h) < 7 || h[3] != '$' || h[6] != '$' {
		t.Fatalf("not a bcrypt hash: %q", h)
	}
	return h[:4] + cost + h[6:]
}

func phc(m, tm uint32, p uint8, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, tm, p,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func argon2idHash(pw string, salt []byte, m, tm uint32, p uint8, keyLen uint32) string {
	return phc(m, tm, p, salt, argon2.IDKey([]byte(pw), salt, tm, m, p, keyLen))
}

var (
	testSalt = []byte("0123456789abcdef") // 16 bytes
	b64Salt  = base64.RawStdEncoding.EncodeToString(testSalt)
	b64Key   = base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{0xAB}, 32))
)

// argonWith builds an argon2id PHC string with arbitrary parameter text.
func argonWith(params string) string {
	return "$argon2id$v=19$" + params + "$" + b64Salt + "$" + b64Key
}

// ---- ParseHash -------------------------------------------------------------

func TestParseHashAccepts(t *testing.T) {
	b := bcryptHash(t, "correct horse") // $2a$ from x/crypto
	if !strings.HasPrefix(b, "$2a$04$") {
		t.Fatalf("unexpected bcrypt output %q", b)
	}
	tests := []struct {
		name string
		hash string
	}{
		{"bcrypt 2a", withBcryptPrefix(t, b, "$2a$")},
		{"bcrypt 2b", withBcryptPrefix(t, b, "$2b$")},
		{"bcrypt 2y", withBcryptPrefix(t, b, "$2y$")},
		{"bcrypt cost 4 (min)", withBcryptCost(t, b, "04")},
		{"bcrypt cost 10", withBcryptCost(t, b, "10")},
		{"bcrypt cost 12 (max)", withBcryptCost(t, b, "12")},
		{"argon2id real", argon2idHash("pw", testSalt, 64, 1, 1, 32)},
		{"argon2id typical params", argonWith("m=65536,t=3,p=4")},
		{"argon2id m=8 (min)", argonWith("m=8,t=1,p=1")},
		{"argon2id m=64MiB (max)", argonWith("m=65536,t=1,p=1")},
		{"argon2id t=4 (max)", argonWith("m=64,t=4,p=1")},
		{"argon2id p=4 (max)", argonWith("m=64,t=1,p=4")},
		{"argon2id parameters in another order", argonWith("p=1,t=1,m=64")},
		{"argon2id 8-byte salt (min)", phc(64, 1, 1, []byte("12345678"), make([]byte, 32))},
		{"argon2id 16-byte key (min)", phc(64, 1, 1, testSalt, make([]byte, 16))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ParseHash(tt.hash); err != nil {
				t.Errorf("ParseHash(%q) = %v, want nil", tt.hash, err)
			}
		})
	}
}

func TestParseHashRejects(t *testing.T) {
	b := bcryptHash(t, "correct horse")
	tests := []struct {
		name string
		hash string
		// wantErr is a substring the error must contain, so a rejection for
		// the wrong reason is noticed.
		wantErr string
	}{
		{"empty", "", "unknown hash scheme"},
		{"plaintext", "hunter2", "unknown hash scheme"},
		{"garbage", "$$$$$$", "unknown hash scheme"},
		{"md5crypt $1$", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", "unknown hash scheme"},
		{"sha256crypt $5$", "$5$rounds=5000$salt$abcdefghijklmnopqrstuvwxyz", "unknown hash scheme"},
		{"sha512crypt $6$", "$6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.", "unknown hash scheme"},
		{"argon2i", strings.Replace(argonWith("m=64,t=1,p=1"), "$argon2id$", "$argon2i$", 1), "unknown hash scheme"},
		{"argon2d", strings.Replace(argonWith("m=64,t=1,p=1"), "$argon2id$", "$argon2d$", 1), "unknown hash scheme"},
		{"bcrypt $2x$", withBcryptPrefix(t, b, "$2x$"), "unknown hash scheme"},
		{"bcrypt $2$", "$2$" + b[4:], "unknown hash scheme"},
		{"bcrypt uppercase $2A$", withBcryptPrefix(t, b, "$2A$"), "unknown hash scheme"},
		{"leading space", " " + b, "unknown hash scheme"},

		{"bcrypt truncated", b[:30], "malformed bcrypt"},
		{"bcrypt prefix only", "$2b$", "malformed bcrypt"},
		{"bcrypt non-numeric cost", withBcryptCost(t, b, "xx"), "malformed bcrypt"},
		{"bcrypt cost 3", withBcryptCost(t, b, "03"), "outside 4..12"},
		{"bcrypt cost 18", withBcryptCost(t, b, "18"), "outside 4..12"},
		{"bcrypt cost 31", withBcryptCost(t, b, "31"), "outside 4..12"},
		{"bcrypt cost 32", withBcryptCost(t, b, "32"), "outside 4..12"},

		{"argon2id prefix only", "$argon2id$", "malformed argon2id hash"},
		{"argon2id without version", "$argon2id$m=64,t=1,p=1$" + b64Salt + "$" + b64Key, "malformed argon2id hash"},
		{"argon2id v=16", strings.Replace(argonWith("m=64,t=1,p=1"), "v=19", "v=16", 1), "malformed argon2id hash"},
		{"argon2id extra field", argonWith("m=64,t=1,p=1") + "$x", "malformed argon2id hash"},
		{"argon2id empty params", argonWith(""), "malformed argon2id parameters"},
		{"argon2id param without =", argonWith("m64,t=1,p=1"), "malformed argon2id parameters"},
		{"argon2id non-numeric", argonWith("m=lots,t=1,p=1"), "malformed argon2id parameters"},
		{"argon2id negative", argonWith("m=64,t=-1,p=1"), "malformed argon2id parameters"},
		{"argon2id m overflows uint32", argonWith("m=4294967296,t=1,p=1"), "malformed argon2id parameters"},
		{"argon2id unknown param", argonWith("m=64,t=1,p=1,x=1"), "unknown argon2id parameter"},
		{"argon2id missing m", argonWith("t=1,p=1"), "memory"},
		{"argon2id m=7", argonWith("m=7,t=1,p=1"), "memory"},
		{"argon2id m=1GiB", argonWith("m=1048576,t=1,p=1"), "memory"},
		{"argon2id missing t", argonWith("m=64,p=1"), "time"},
		{"argon2id t=0", argonWith("m=64,t=0,p=1"), "time"},
		{"argon2id t=100", argonWith("m=64,t=100,p=1"), "time"},
		{"argon2id missing p", argonWith("m=64,t=1"), "parallelism"},
		{"argon2id p=0", argonWith("m=64,t=1,p=0"), "parallelism"},
		{"argon2id p=256", argonWith("m=64,t=1,p=256"), "parallelism"},
		{"argon2id p=257 (would wrap to 1 as uint8)", argonWith("m=64,t=1,p=257"), "parallelism"},
		{"argon2id p=511 (would wrap to 255 as uint8)", argonWith("m=64,t=1,p=511"), "parallelism"},
		{"argon2id 7-byte salt", phc(64, 1, 1, []byte("1234567"), make([]byte, 32)), "salt"},
		{"argon2id empty salt", "$argon2id$v=19$m=64,t=1,p=1$$" + b64Key, "salt"},
		{"argon2id padded salt", "$argon2id$v=19$m=64,t=1,p=1$" + base64.StdEncoding.EncodeToString([]byte("12345678")) + "$" + b64Key, "salt"},
		{"argon2id url-safe base64 salt", "$argon2id$v=19$m=64,t=1,p=1$" + base64.RawURLEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe}) + "$" + b64Key, "salt"},
		{"argon2id 15-byte key", phc(64, 1, 1, testSalt, make([]byte, 15)), "argon2id hash must be"},
		{"argon2id empty key", "$argon2id$v=19$m=64,t=1,p=1$" + b64Salt + "$", "argon2id hash must be"},
		{"argon2id key not base64", "$argon2id$v=19$m=64,t=1,p=1$" + b64Salt + "$not*base64*at*all*!!", "argon2id hash must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ParseHash(tt.hash)
			if err == nil {
				t.Fatalf("ParseHash(%q) = nil, want error containing %q", tt.hash, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseHash(%q) = %q, want error containing %q", tt.hash, err, tt.wantErr)
			}
			// "Its errors never repeat the hash."
			if len(tt.hash) >= 16 && strings.Contains(err.Error(), tt.hash) {
				t.Errorf("error %q repeats the hash", err)
			}
			for _, part := range strings.Split(tt.hash, "$") {
				if len(part) >= 16 && strings.Contains(err.Error(), part) {
					t.Errorf("error %q repeats part %q of the hash", err, part)
				}
			}
		})
	}
}

// ---- VerifyHash ------------------------------------------------------------

func TestVerifyHash(t *testing.T) {
	const pw = "correct horse battery staple"
	b := bcryptHash(t, pw)
	b2b := withBcryptPrefix(t, b, "$2b$")
	b2y := withBcryptPrefix(t, b, "$2y$")
	a := argon2idHash(pw, testSalt, 64, 1, 1, 32)
	aMulti := argon2idHash(pw, []byte("another salt value"), 64, 2, 4, 16)
	b72 := bcryptHash(t, strings.Repeat("a", 72))

	tests := []struct {
		name      string
		hash, pw  string
		want      bool
		wantError bool
	}{
		{"bcrypt 2a right", b, pw, true, false},
		{"bcrypt 2a wrong", b, "correct horse battery stapler", false, false},
		{"bcrypt 2a empty password", b, "", false, false},
		{"bcrypt 2a prefix of password", b, pw[:len(pw)-1], false, false},
		{"bcrypt 2b right", b2b, pw, true, false},
		{"bcrypt 2b wrong", b2b, "nope", false, false},
		{"bcrypt 2y right", b2y, pw, true, false},
		{"bcrypt 2y wrong", b2y, "nope", false, false},
		{"bcrypt empty password hash", bcryptHash(t, ""), "", true, false},
		{"bcrypt empty password hash, non-empty presented", bcryptHash(t, ""), "x", false, false},
		// bcrypt reads 72 bytes: a longer password sharing them is refused.
		{"bcrypt 72 bytes right", b72, strings.Repeat("a", 72), true, false},
		{"bcrypt 73 bytes sharing the first 72", b72, strings.Repeat("a", 72) + "b", false, false},
		{"argon2id right", a, pw, true, false},
		{"argon2id wrong", a, "correct horse battery stapler", false, false},
		{"argon2id empty password", a, "", false, false},
		{"argon2id t=2 p=4 16-byte key right", aMulti, pw, true, false},
		{"argon2id t=2 p=4 16-byte key wrong", aMulti, "Correct horse battery staple", false, false},
		// Same key, other parameters: must not verify.
		{"argon2id other time param", strings.Replace(a, "t=1", "t=2", 1), pw, false, false},
		{"argon2id other memory param", strings.Replace(a, "m=64", "m=128", 1), pw, false, false},
		{"argon2id other salt", phc(64, 1, 1, []byte("fedcba9876543210"), argon2.IDKey([]byte(pw), testSalt, 1, 64, 1, 32)), pw, false, false},
		// An argon2i (not id) key dressed as argon2id must not verify.
		{"argon2i key as argon2id", phc(64, 1, 1, testSalt, argon2.Key([]byte(pw), testSalt, 1, 64, 1, 32)), pw, false, false},

		{"empty hash", "", pw, false, true},
		{"plaintext hash", pw, pw, false, true},
		{"unknown scheme", "$6$salt$abc", pw, false, true},
		{"malformed bcrypt", b[:40], pw, false, true},
		{"malformed argon2id", argonWith("m=64,t=0,p=1"), pw, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyHash(tt.hash, tt.pw)
			if (err != nil) != tt.wantError {
				t.Fatalf("VerifyHash error = %v, want error %v", err, tt.wantError)
			}
			if got != tt.want {
				t.Errorf("VerifyHash = %v, want %v", got, tt.want)
			}
		})
	}
}

// A $2b$ hash made by PHP-style tools is written $2y$; both must verify,
// and a $2y$ hash must verify exactly the passwords the $2b$ one does.
func TestVerifyHash2yEquals2b(t *testing.T) {
	for _, pw := range []string{"a", "p\u00e4ssw\u00f6rd", strings.Repeat("x", 71)} {
		h := withBcryptPrefix(t, bcryptHash(t, pw), "$2b$")
		y := withBcryptPrefix(t, h, "$2y$")
		for _, presented := range []string{pw, pw + "!"} {
			gb, errb := VerifyHash(h, presented)
			gy, erry := VerifyHash(y, presented)
			if errb != nil || erry != nil {
				t.Fatalf("errors: 2b %v, 2y %v", errb, erry)
			}
			if gb != (presented == pw) || gy != gb {
				t.Errorf("password %q presented %q: 2b=%v 2y=%v", pw, presented, gb, gy)
			}
		}
	}
}

func TestNormalizeBcrypt(t *testing.T) {
	tests := map[string]string{
		"$2y$04$abc": "$2b$04$abc",
		"$2b$04$abc": "$2b$04$abc",
		"$2a$04$abc": "$2a$04$abc",
		"x$2y$":      "x$2y$",
	}
	for in, want := range tests {
		if got := normalizeBcrypt(in); got != want {
			t.Errorf("normalizeBcrypt(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every hash ParseHash accepts in TestParseHashAccepts-style must be usable
// by VerifyHash without error (the controller relies on ParseHash to reject
// hashes that would later fail at sign-in).
func TestParseHashAcceptedIsVerifiable(t *testing.T) {
	for _, h := range []string{
		withBcryptPrefix(t, bcryptHash(t, "x"), "$2y$"),
		argon2idHash("x", testSalt, 8, 1, 1, 16),
		argon2idHash("x", testSalt, 64, 1, 3, 32),
	} {
		if err := ParseHash(h); err != nil {
			t.Fatalf("ParseHash(%q) = %v", h, err)
		}
		ok, err := VerifyHash(h, "x")
		if err != nil || !ok {
			t.Errorf("VerifyHash(%q, right) = %v, %v; want true, nil", h, ok, err)
		}
	}
}

// ---- Cache -----------------------------------------------------------------

// newFakeClock is the clock the tests step by hand.
func newFakeClock() *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}

// countingCache returns a cache whose verifier is VerifyHash (or fn) wrapped
// in a call counter.
func countingCache(size int, ttl time.Duration, now func() time.Time, fn func(h, p string) (bool, error)) (*Cache, *atomic.Int64) {
	c := NewCache(size, ttl, now)
	if fn == nil {
		fn = VerifyHash
	}
	var n atomic.Int64
	c.verify = func(h, p string) (bool, error) {
		n.Add(1)
		return fn(h, p)
	}
	return c, &n
}

func (c *Cache) lenForTest() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) != c.lru.Len() {
		panic(fmt.Sprintf("cache map has %d entries, list %d", len(c.entries), c.lru.Len()))
	}
	return len(c.entries)
}

func (c *Cache) hasForTest(userUID, version, hash, presented string) bool {
	id := c.id(userUID, version, hash, presented)
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.entries[id]
	return ok
}

func mustVerify(t *testing.T, c *Cache, user, version, hash, pw string, want bool) {
	t.Helper()
	got, err := c.Verify(user, version, hash, pw)
	if err != nil {
		t.Fatalf("Verify(%s, %s, %q) error: %v", user, version, pw, err)
	}
	if got != want {
		t.Fatalf("Verify(%s, %s, %q) = %v, want %v", user, version, pw, got, want)
	}
}

func TestNewCacheUsesVerifyHashAndRandomKey(t *testing.T) {
	clk := newFakeClock()
	c := NewCache(10, time.Minute, clk.Now)
	if len(c.key) != 32 || bytes.Equal(c.key, make([]byte, 32)) {
		t.Fatalf("cache key is %x, want 32 random bytes", c.key)
	}
	if c2 := NewCache(10, time.Minute, clk.Now); bytes.Equal(c.key, c2.key) {
		t.Fatal("two caches share a key")
	}
	h := bcryptHash(t, "pw")
	mustVerify(t, c, "u", "1", h, "pw", true)
	mustVerify(t, c, "u", "1", h, "wrong", false)
}

func TestCacheHitAfterSuccess(t *testing.T) {
	clk := newFakeClock()
	c, calls := countingCache(10, time.Minute, clk.Now, nil)
	h := bcryptHash(t, "pw")

	mustVerify(t, c, "uid-1", "7", h, "pw", true)
	if calls.Load() != 1 || c.lenForTest() != 1 {
		t.Fatalf("after first success: %d verifications, %d entries; want 1, 1", calls.Load(), c.lenForTest())
	}
	for i := 0; i < 5; i++ {
		mustVerify(t, c, "uid-1", "7", h, "pw", true)
	}
	if calls.Load() != 1 {
		t.Fatalf("repeated success verified %d times, want 1 (cache hits)", calls.Load())
	}
	if c.lenForTest() != 1 {
		t.Fatalf("cache has %d entries, want 1", c.lenForTest())
	}
}

func TestCacheNeverCachesFailure(t *testing.T) {
	clk := newFakeClock()
	c, calls := countingCache(10, time.Minute, clk.Now, nil)
	h := bcryptHash(t, "pw")

	// Wrong first: verified each time, never stored.
	for i := 1; i <= 3; i++ {
		mustVerify(t, c, "u", "1", h, "wrong", false)
		if calls.Load() != int64(i) {
			t.Fatalf("wrong password attempt %d: %d verifications, want %d", i, calls.Load(), i)
		}
	}
	if c.lenForTest() != 0 {
		t.Fatalf("wrong password left %d cache entries", c.lenForTest())
	}

	// Right password cached; wrong still fails after it, and is still
	// verified (not answered from the cache).
	mustVerify(t, c, "u", "1", h, "pw", true)
	before := calls.Load()
	mustVerify(t, c, "u", "1", h, "wrong", false)
	mustVerify(t, c, "u", "1", h, "", false)
	mustVerify(t, c, "u", "1", h, "pw ", false)
	if calls.Load() != before+3 {
		t.Fatalf("wrong passwords after a success: %d verifications, want 3", calls.Load()-before)
	}
	if c.lenForTest() != 1 || !c.hasForTest("u", "1", h, "pw") {
		t.Fatalf("cache should hold only the right password's entry; has %d entries", c.lenForTest())
	}
}

func TestCacheDoesNotCacheErrors(t *testing.T) {
	clk := newFakeClock()
	wantErr := errors.New("boom")
	fail := true
	c, calls := countingCache(10, time.Minute, clk.Now, func(h, p string) (bool, error) {
		if fail {
			return true, wantErr // even "true" with an error must not be cached
		}
		return true, nil
	})
	if _, err := c.Verify("u", "1", "h", "pw"); !errors.Is(err, wantErr) {
		t.Fatalf("Verify error = %v, want %v", err, wantErr)
	}
	if c.lenForTest() != 0 {
		t.Fatal("an error was cached")
	}
	// Real VerifyHash on an unusable hash: error, nothing cached.
	c2, _ := countingCache(10, time.Minute, clk.Now, nil)
	if ok, err := c2.Verify("u", "1", "$6$nope", "pw"); err == nil || ok {
		t.Fatalf("Verify on unknown scheme = %v, %v; want false, error", ok, err)
	}
	if c2.lenForTest() != 0 {
		t.Fatal("an error was cached")
	}
	fail = false
	mustVerify(t, c, "u", "1", "h", "pw", true)
	mustVerify(t, c, "u", "1", "h", "pw", true)
	if calls.Load() != 2 {
		t.Fatalf("%d verifications, want 2", calls.Load())
	}
}

func TestCacheInvalidatedByVersionHashAndUser(t *testing.T) {
	clk := newFakeClock()
	c, calls := countingCache(10, time.Minute, clk.Now, nil)
	oldHash := bcryptHash(t, "old")
	newHash := bcryptHash(t, "new")

	mustVerify(t, c, "u", "1", oldHash, "old", true)
	mustVerify(t, c, "u", "1", oldHash, "old", true)
	if calls.Load() != 1 {
		t.Fatalf("setup: %d verifications, want 1", calls.Load())
	}

	// New resourceVersion, same hash: a miss, verified again.
	mustVerify(t, c, "u", "2", oldHash, "old", true)
	if calls.Load() != 2 {
		t.Fatalf("new version: %d verifications, want 2", calls.Load())
	}

	// Password changed: the old password string against the new hash must be
	// checked against the new hash and fail, with or without a version bump.
	mustVerify(t, c, "u", "3", newHash, "old", false)
	mustVerify(t, c, "u", "1", newHash, "old", false)
	mustVerify(t, c, "u", "2", newHash, "old", false)
	if calls.Load() != 5 {
		t.Fatalf("changed hash: %d verifications, want 5", calls.Load())
	}
	mustVerify(t, c, "u", "3", newHash, "new", true)
	mustVerify(t, c, "u", "3", newHash, "new", true)
	if calls.Load() != 6 {
		t.Fatalf("new password: %d verifications, want 6", calls.Load())
	}

	// Another user with the same hash and password does not share the entry.
	mustVerify(t, c, "other", "3", newHash, "new", true)
	if calls.Load() != 7 {
		t.Fatalf("other user: %d verifications, want 7", calls.Load())
	}
}

// Fields are separated, so moving bytes from one argument to the next does
// not produce the same cache id.
func TestCacheIDSeparatesFields(t *testing.T) {
	c := NewCache(10, time.Minute, time.Now)
	base := c.id("ab", "c", "h", "p")
	for _, args := range [][4]string{
		{"a", "bc", "h", "p"},
		{"abc", "", "h", "p"},
		{"ab", "ch", "", "p"},
		{"ab", "c", "hp", ""},
		{"ab", "c", "", "hp"},
	} {
		if c.id(args[0], args[1], args[2], args[3]) == base {
			t.Errorf("id%q collides with id(ab, c, h, p)", args)
		}
	}
	if c.id("ab", "c", "h", "p") != base {
		t.Error("id is not deterministic")
	}
}

func TestCacheKeyHoldsNoPlaintext(t *testing.T) {
	clk := newFakeClock()
	c := NewCache(10, time.Minute, clk.Now)
	const pw = "a-rather-long-and-recognisable-password-0123456789"
	h := bcryptHash(t, pw)
	mustVerify(t, c, "uid", "1", h, pw, true)

	c.mu.Lock()
	var ids [][32]byte
	for id, el := range c.entries {
		if el.Value.(*cacheEntry).id != id {
			t.Errorf("entry id %x does not match its map key %x", el.Value.(*cacheEntry).id, id)
		}
		ids = append(ids, id)
	}
	c.mu.Unlock()
	if len(ids) != 1 {
		t.Fatalf("cache holds %d entries, want 1", len(ids))
	}
	id := ids[0]
	if id != c.id("uid", "1", h, pw) {
		t.Fatal("cache key is not the HMAC id")
	}

	// Not the plaintext, not a plain digest of it, and keyed: another cache
	// (another key) computes another id for the same inputs.
	if bytes.Contains(id[:], []byte(pw[:8])) {
		t.Error("cache key contains password bytes")
	}
	for _, d := range [][32]byte{
		sha256.Sum256([]byte(pw)),
		sha256.Sum256([]byte("uid\x001\x00" + h + "\x00" + pw + "\x00")),
		sha256.Sum256([]byte("uid1" + h + pw)),
	} {
		if id == d {
			t.Error("cache key is an unkeyed SHA-256 digest")
		}
	}
	other := NewCache(10, time.Minute, clk.Now)
	if other.id("uid", "1", h, pw) == id {
		t.Error("ids do not depend on the per-cache key")
	}
}

func TestCacheTTL(t *testing.T) {
	clk := newFakeClock()
	const ttl = 10 * time.Minute
	c, calls := countingCache(10, ttl, clk.Now, nil)
	h := bcryptHash(t, "pw")

	mustVerify(t, c, "u", "1", h, "pw", true) // expires at t0+ttl
	clk.Step(ttl - time.Nanosecond)
	mustVerify(t, c, "u", "1", h, "pw", true)
	if calls.Load() != 1 {
		t.Fatalf("just before TTL: %d verifications, want 1 (hit)", calls.Load())
	}
	// A hit does not extend the lifetime.
	clk.Step(time.Nanosecond)
	mustVerify(t, c, "u", "1", h, "pw", true)
	if calls.Load() != 2 {
		t.Fatalf("at TTL: %d verifications, want 2 (expired)", calls.Load())
	}
	if c.lenForTest() != 1 {
		t.Fatalf("after re-verification: %d entries, want 1", c.lenForTest())
	}
	// Re-verified entry lives for a fresh TTL from now.
	clk.Step(ttl - time.Second)
	mustVerify(t, c, "u", "1", h, "pw", true)
	if calls.Load() != 2 {
		t.Fatalf("within new TTL: %d verifications, want 2", calls.Load())
	}
	clk.Step(time.Second)
	mustVerify(t, c, "u", "1", h, "pw", true)
	if calls.Load() != 3 {
		t.Fatalf("after new TTL: %d verifications, want 3", calls.Load())
	}

	// An expired entry followed by a wrong password: the stale entry is
	// dropped and nothing is added.
	clk.Step(ttl)
	mustVerify(t, c, "u", "1", h, "wrong", false)
	mustVerify(t, c, "u", "1", h, "pw", true) // expired: verify again
	if calls.Load() != 5 {
		t.Fatalf("expired then verified: %d verifications, want 5", calls.Load())
	}
}

func TestCacheExpiredEntryRemovedOnLookup(t *testing.T) {
	clk := newFakeClock()
	c, _ := countingCache(10, time.Minute, clk.Now, func(h, p string) (bool, error) { return p == "pw", nil })
	mustVerify(t, c, "u", "1", "h", "pw", true)
	clk.Step(time.Minute)
	// Expired lookup with a verification that now fails: entry must be gone.
	c.verify = func(h, p string) (bool, error) { return false, nil }
	mustVerify(t, c, "u", "1", "h", "pw", false)
	if c.lenForTest() != 0 {
		t.Fatalf("expired entry kept: %d entries", c.lenForTest())
	}
}

func TestCacheBoundedLRU(t *testing.T) {
	clk := newFakeClock()
	const size = 3
	c, calls := countingCache(size, time.Hour, clk.Now, func(h, p string) (bool, error) { return p == "pw-"+h, nil })

	users := []string{"a", "b", "c", "d", "e", "f", "g"}
	for i, u := range users {
		mustVerify(t, c, u, "1", u, "pw-"+u, true)
		want := min(i+1, size)
		if n := c.lenForTest(); n != want {
			t.Fatalf("after %d users: %d entries, want %d", i+1, n, want)
		}
	}
	// The last `size` users are cached, the earlier ones were evicted.
	for _, u := range users[:len(users)-size] {
		if c.hasForTest(u, "1", u, "pw-"+u) {
			t.Errorf("user %s should have been evicted", u)
		}
	}
	for _, u := range users[len(users)-size:] {
		if !c.hasForTest(u, "1", u, "pw-"+u) {
			t.Errorf("user %s should be cached", u)
		}
	}

	// LRU, not FIFO: touching e (the oldest) makes f the next to go.
	before := calls.Load()
	mustVerify(t, c, "e", "1", "e", "pw-e", true)
	if calls.Load() != before {
		t.Fatal("cached user e was verified again")
	}
	mustVerify(t, c, "h", "1", "h", "pw-h", true)
	if !c.hasForTest("e", "1", "e", "pw-e") || c.hasForTest("f", "1", "f", "pw-f") {
		t.Error("LRU order not respected: want f evicted, e kept")
	}
	if c.lenForTest() != size {
		t.Errorf("%d entries, want %d", c.lenForTest(), size)
	}
}

func TestCacheSizeZeroCachesNothing(t *testing.T) {
	clk := newFakeClock()
	for _, size := range []int{0, -1} {
		c, calls := countingCache(size, time.Hour, clk.Now, func(h, p string) (bool, error) { return true, nil })
		for i := 0; i < 3; i++ {
			mustVerify(t, c, "u", "1", "h", "pw", true)
		}
		if calls.Load() != 3 || c.lenForTest() != 0 {
			t.Errorf("size %d: %d verifications, %d entries; want 3, 0", size, calls.Load(), c.lenForTest())
		}
	}
}

func TestCacheConcurrent(t *testing.T) {
	clk := newFakeClock()
	type user struct{ uid, pw, hash string }
	var users []user
	for i := 0; i < 4; i++ {
		pw := fmt.Sprintf("password-%d", i)
		h := bcryptHash(t, pw)
		if i%2 == 1 {
			h = argon2idHash(pw, testSalt, 64, 1, 1, 32)
		}
		users = append(users, user{fmt.Sprintf("uid-%d", i), pw, h})
	}
	c, calls := countingCache(len(users), time.Hour, clk.Now, nil)

	const goroutines, rounds = 16, 20
	var wg sync.WaitGroup
	errs := make(chan string, goroutines*rounds*2)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				u := users[(g+r)%len(users)]
				if ok, err := c.Verify(u.uid, "1", u.hash, u.pw); err != nil || !ok {
					errs <- fmt.Sprintf("%s right password: %v, %v", u.uid, ok, err)
				}
				if ok, err := c.Verify(u.uid, "1", u.hash, u.pw+"x"); err != nil || ok {
					errs <- fmt.Sprintf("%s wrong password: %v, %v", u.uid, ok, err)
				}
				if r%5 == 0 {
					clk.Step(time.Millisecond)
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	// Every wrong attempt is verified; right ones mostly come from the cache.
	wrong := int64(goroutines * rounds)
	right := calls.Load() - wrong
	if right < int64(len(users)) || right > int64(goroutines*len(users)) {
		t.Errorf("%d verifications of right passwords, want between %d and %d", right, len(users), goroutines*len(users))
	}
	if n := c.lenForTest(); n != len(users) {
		t.Errorf("cache has %d entries, want %d", n, len(users))
	}
}
