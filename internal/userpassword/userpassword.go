// Package userpassword hashes and checks user passwords with argon2id and
// enforces gantry's password strength rules.
//
// Hashes are PHC strings: $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>
// (unpadded standard base64). The parameters travel with each hash, so raising
// the defaults later keeps existing hashes verifiable.
package userpassword

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultParams follow the OWASP password storage recommendation for
// argon2id (19 MiB, 2 passes, 1 lane): tens of milliseconds per hash.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// Hasher hashes with fixed parameters.
type Hasher struct{ p Params }

// NewHasher returns a Hasher; the zero Params mean DefaultParams.
func NewHasher(p Params) *Hasher {
	if p == (Params{}) {
		p = DefaultParams
	}
	return &Hasher{p: p}
}

// Hash returns the PHC-encoded argon2id hash of password with a fresh salt.
func (h *Hasher) Hash(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, h.p.Time, h.p.Memory, h.p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.p.Memory, h.p.Time, h.p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// DummyCompare spends the time of one comparison without a real hash, so a
// login for an unknown email takes as long as one with a wrong password.
func (h *Hasher) DummyCompare(password string) {
	var salt [saltLen]byte
	_ = argon2.IDKey([]byte(password), salt[:], h.p.Time, h.p.Memory, h.p.Threads, keyLen)
}

// ErrMalformedHash reports a stored hash gantry cannot parse.
var ErrMalformedHash = errors.New("malformed password hash")

// Compare reports whether password matches the PHC-encoded hash. The
// parameters come from the hash itself. Bounds on them keep a corrupted or
// hostile row from making a login allocate gigabytes.
func Compare(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrMalformedHash
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false, ErrMalformedHash
	}
	if p.Memory < 8 || p.Memory > 1<<20 || p.Time < 1 || p.Time > 16 || p.Threads < 1 {
		return false, ErrMalformedHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, ErrMalformedHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, ErrMalformedHash
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// Length limits. The maximum keeps hashing cost bounded; Coder uses 64 too.
const (
	MinLength = 8
	MaxLength = 64
	// MinEntropyBits is the estimated strength a password must reach (the
	// same threshold Coder uses).
	MinEntropyBits = 52
)

// Validate checks gantry's strength rules and returns an error whose text is
// meant for the user (it becomes the "password" validation detail):
//   - 8 to 64 characters;
//   - an estimated entropy of at least 52 bits, computed as
//     (distinct characters, counting each run of one repeated character once)
//     × log2(size of the character classes used: lower 26, upper 26,
//     digits 10, symbols 33, other 100).
//
// So 9 characters mixing all four ASCII classes pass, and a long passphrase
// of lower-case words passes at about 12 letters; "aaaaaaaaaaaaaaa" and
// "password" fail.
func Validate(password string) error {
	n := utf8.RuneCountInString(password)
	if n < MinLength {
		return fmt.Errorf("password must be at least %d characters", MinLength)
	}
	if n > MaxLength {
		return fmt.Errorf("password must be no more than %d characters", MaxLength)
	}
	if entropyBits(password) < MinEntropyBits {
		return errors.New("insecure password, try including more special characters, using uppercase letters, using numbers or using a longer password")
	}
	return nil
}

func entropyBits(s string) float64 {
	var lower, upper, digit, symbol, other bool
	length := 0
	var prev rune = -1
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= '0' && r <= '9':
			digit = true
		case r < 128 && unicode.IsPrint(r):
			symbol = true
		default:
			other = true
		}
		if r != prev {
			length++
		}
		prev = r
	}
	pool := 0
	for _, c := range []struct {
		used bool
		size int
	}{{lower, 26}, {upper, 26}, {digit, 10}, {symbol, 33}, {other, 100}} {
		if c.used {
			pool += c.size
		}
	}
	if pool == 0 {
		return 0
	}
	return float64(length) * math.Log2(float64(pool))
}
