// Package apikey generates, splits and verifies API tokens in Coder's format:
// "<id>-<secret>", a 10-character id and a 22-character secret, both drawn
// from [A-Za-z0-9]. Only SHA-256(secret) is ever stored; the id is the
// database key.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strings"
)

// Lengths of the two halves of a token.
const (
	IDLength     = 10
	SecretLength = 22
	// TokenLength is the length of a whole token, dash included.
	TokenLength = IDLength + 1 + SecretLength
)

// Token is a freshly generated API key. Secret and String() must reach only
// the client that asked for the key; HashedSecret is what gets stored.
type Token struct {
	ID           string
	Secret       string
	HashedSecret []byte
}

// String returns the token as clients send it.
func (t Token) String() string { return t.ID + "-" + t.Secret }

// Generate returns a new random token.
func Generate() (Token, error) {
	id, err := randomString(IDLength)
	if err != nil {
		return Token{}, fmt.Errorf("generate key id: %w", err)
	}
	secret, err := randomString(SecretLength)
	if err != nil {
		return Token{}, fmt.Errorf("generate key secret: %w", err)
	}
	h := HashSecret(secret)
	return Token{ID: id, Secret: secret, HashedSecret: h[:]}, nil
}

// Split validates the shape of token and returns its id and secret. The
// error texts are Coder's; the API-key middleware prefixes them with
// "Invalid API key format: ".
func Split(token string) (id, secret string, err error) {
	// Count first so a malformed token costs no allocation.
	if n := strings.Count(token, "-") + 1; n != 2 {
		return "", "", fmt.Errorf("incorrect amount of API key parts, expected 2 got %d", n)
	}
	id, secret, _ = strings.Cut(token, "-")
	if len(id) != IDLength {
		return "", "", fmt.Errorf("invalid API key ID length, expected %d got %d", IDLength, len(id))
	}
	if len(secret) != SecretLength {
		return "", "", fmt.Errorf("invalid API key secret length, expected %d got %d", SecretLength, len(secret))
	}
	return id, secret, nil
}

// HashSecret returns SHA-256(secret). A fast hash is right here: the secret
// is 22 random alphanumerics (~131 bits), so brute force is hopeless without
// a slow KDF, and validation sits on every request's hot path.
func HashSecret(secret string) [sha256.Size]byte {
	return sha256.Sum256([]byte(secret))
}

// CompareSecret reports in constant time whether secret hashes to hashed.
func CompareSecret(hashed []byte, secret string) bool {
	h := HashSecret(secret)
	return subtle.ConstantTimeCompare(hashed, h[:]) == 1
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomString draws n characters uniformly from alphabet. Bytes >= 248
// (the largest multiple of 62 below 256) are rejected so there is no modulo
// bias.
func randomString(n int) (string, error) {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", err
		}
		for _, b := range buf {
			if b >= 248 {
				continue
			}
			out = append(out, alphabet[int(b)%len(alphabet)])
			if len(out) == n {
				break
			}
		}
	}
	return string(out), nil
}
